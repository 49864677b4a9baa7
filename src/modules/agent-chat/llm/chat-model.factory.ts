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
  private model: Promise<BaseChatModel> | undefined;

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
   * reused too (langchain-agent.ts). Throws `model_unavailable` when none is configured. Its
   * LangChain code is imported here, on first use, not at start-up (see AgentRunner).
   */
  create(): Promise<BaseChatModel> {
    // A failed import (a transient file-system error) is not kept: the next run tries again.
    this.model ??= this.build().catch((error: unknown) => {
      this.model = undefined;
      throw error;
    });
    return this.model;
  }

  private async build(): Promise<BaseChatModel> {
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
          streaming: true,
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
