import { Injectable } from '@nestjs/common';
import type { AgentStreamPart } from '../events/ag-ui-events';
import type { HistoryMessage } from '../history/history-message';
import type { AgentToolDefinition } from '../tools/agent-tool';
import type { ToolExecutor } from '../tools/tool-executor';
import { ChatModelFactory, type ModelDescription } from './chat-model.factory';

export interface AgentRunInput {
  /** The session's trimmed history, ending with the user's new message. */
  readonly history: readonly HistoryMessage[];
  readonly systemPrompt: string;
  readonly tools: readonly AgentToolDefinition[];
  readonly executor: ToolExecutor;
  /** Aborts the model call and the tools (client gone, run timed out). */
  readonly signal: AbortSignal;
  readonly modelTimeoutMs: number;
  readonly maxModelCalls: number;
  /** Extra attempts after a failed or timed-out model call (CONTRACT.md: at most 1). */
  readonly modelRetries: number;
  /**
   * Stream the model's tokens (`text_delta`/`tool_call_delta` parts) as they come: for live
   * (SSE) answers. Without it each model message arrives whole, which the JSON answer may merge
   * anyway, and LangChain's per-token callback path is skipped (about a third of a run's CPU).
   */
  readonly streamTokens?: boolean;
}

/**
 * Runs one agent loop (langchain-agent.ts) with the configured model. LangChain is loaded on a
 * process's first run, not at start-up: its modules took ≈ 0.2–0.4 s to load, about a quarter of
 * the cold start (bench/results.md, "Session 6"), which health probes, sign-in and profiles never
 * need. The first run of each process pays that once.
 */
@Injectable()
export class AgentRunner {
  constructor(private readonly models: ChatModelFactory) {}

  describe(): ModelDescription {
    return this.models.describe();
  }

  async *run(input: AgentRunInput): AsyncGenerator<AgentStreamPart> {
    const [{ runAgent }, model] = await Promise.all([import('./langchain-agent'), this.models.create(input.streamTokens !== false)]);
    yield* runAgent(model, input);
  }
}
