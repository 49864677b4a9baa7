import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { ModelFailure } from './model-failure';

export interface ModelDescription {
  readonly provider: string;
  readonly model: string;
}

/**
 * Builds the agent's chat model from LLM_PROVIDER / LLM_MODEL / LLM_BASE_URL / LLM_API_KEY.
 * A provider of its own so tests can replace it (`overrideProvider(ChatModelFactory)`) with
 * LangChain's deterministic fake models.
 */
@Injectable()
export class ChatModelFactory implements OnApplicationBootstrap {
  private readonly logger = new Logger(ChatModelFactory.name);
  private readonly models: { streaming?: Promise<BaseChatModel>; whole?: Promise<BaseChatModel> } = {};

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  /** No model (LLM_PROVIDER unset, production): the service runs, and says once what that means. */
  onApplicationBootstrap(): void {
    if (this.config.llm.provider !== undefined) return;
    this.logger.warn(
      { event: 'agent.model_unconfigured' },
      'LLM_PROVIDER is unset: no chat model, POST /api/v1/agent-chats answers 503 model_unavailable',
    );
  }

  describe(): ModelDescription {
    const { provider, model } = this.config.llm;
    if (provider === 'offline') return { provider, model: 'offline-rules' };
    return { provider: provider ?? 'none', model: model ?? 'none' };
  }

  /**
   * The configured model, made on the first run and shared by every later one (a model holds its
   * settings and, for `openai`, an HTTP client; nothing of a run), so the agent compiled for it is
   * reused too (langchain-agent.ts). `streamTokens`: a model for a live (SSE) caller, which
   * streams each call; otherwise one that asks for whole messages. Throws `model_unavailable`
   * when none is configured. Its LangChain code is imported here, on first use, not at start-up
   * (see AgentRunner).
   */
  create(streamTokens = true): Promise<BaseChatModel> {
    // Only the OpenAI client is built differently for the two; the offline model serves both.
    const slot = streamTokens || this.config.llm.provider !== 'openai' ? 'streaming' : 'whole';
    // A failed import (a transient file-system error) is not kept: the next run tries again.
    this.models[slot] ??= this.build(streamTokens).catch((error: unknown) => {
      this.models[slot] = undefined;
      throw error;
    });
    return this.models[slot];
  }

  private async build(streamTokens: boolean): Promise<BaseChatModel> {
    const { provider, model, baseUrl, apiKey } = this.config.llm;
    switch (provider) {
      case 'offline': {
        const { OfflineChatModel } = await import('./offline-chat-model');
        return new OfflineChatModel();
      }
      case 'openai': {
        // Chat Completions (not the Responses API): the protocol every OpenAI-compatible server
        // (vLLM, Ollama, llama.cpp, LM Studio) speaks. Retries and the per-call timeout are
        // ours (langchain-agent.ts), so the client's own are off or bounded by the same limit.
        const { ChatOpenAICompletions } = await import('@langchain/openai');
        return new ChatOpenAICompletions({
          model: model!,
          apiKey: apiKey ?? 'not-set',
          configuration: baseUrl ? { baseURL: baseUrl } : {},
          // A JSON answer's model asks for whole messages: with `streaming: true` its calls stream
          // too and then estimate token counts with tiktoken, whose encoder LangChain downloads
          // from tiktoken.pages.dev on every call; without internet access each JSON run hung
          // until model_timeout. Token usage comes from the server in both cases.
          streaming: streamTokens,
          streamUsage: true,
          maxRetries: 0,
          timeout: this.config.llm.modelTimeoutMs,
        });
      }
      case 'fake':
      case undefined:
        // `fake` is for tests, which override this factory; unset means nothing is configured.
        throw new ModelFailure('model_unavailable', `no chat model configured (LLM_PROVIDER=${provider ?? 'unset'})`);
    }
  }
}
