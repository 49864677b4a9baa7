import type { CompletedToolCall } from '../events/ag-ui-events';

/** A stored message as the model sees it again on the next run (no LangChain types here). */
export interface HistoryMessage {
  readonly role: 'user' | 'assistant' | 'tool';
  readonly content: string;
  readonly toolCalls?: readonly CompletedToolCall[] | null;
  readonly toolCallId?: string | null;
  readonly toolName?: string | null;
}
