import { createHash } from 'node:crypto';

/**
 * The run's events: AG-UI protocol `type` names, the routes document's snake_case fields
 * (CONTRACT.md "Agent chat"), plus `tool_call_id` and `session_id` on RUN_STARTED, and three of
 * AG-UI's own fields documented as Extensions in docs/api-routes.md: `role`, `parent_message_id`
 * and RUN_ERROR's `code`.
 */
export type AgUiEvent =
  | { type: 'RUN_STARTED'; run_id: string; session_id: string }
  | { type: 'TEXT_MESSAGE_START'; message_id: string; role: 'assistant' }
  | { type: 'TEXT_MESSAGE_CONTENT'; message_id: string; delta: string }
  | { type: 'TEXT_MESSAGE_END'; message_id: string }
  | { type: 'TOOL_CALL_START'; tool_call_id: string; tool_name: string; parent_message_id?: string }
  | { type: 'TOOL_CALL_ARGS'; tool_call_id: string; delta: string }
  | { type: 'TOOL_CALL_END'; tool_call_id: string }
  | { type: 'TOOL_CALL_RESULT'; tool_call_id: string; tool_name: string; result: string; error?: string }
  | { type: 'RUN_FINISHED'; run_id: string; output: string }
  | { type: 'RUN_ERROR'; run_id: string; error: string; code: string };

export type AgUiEventType = AgUiEvent['type'];

/** A tool call as the model finally stated it (arguments parsed). */
export interface CompletedToolCall {
  readonly id: string;
  readonly name: string;
  readonly args: Record<string, unknown>;
}

/**
 * What the agent loop reports, free of any LangChain type, so the mapper below stays a pure
 * function of plain data (the llm/ adapter produces these from the agent's stream).
 */
export type AgentStreamPart =
  /** A streamed piece of an assistant message's text. */
  | { readonly kind: 'text_delta'; readonly message_id: string; readonly delta: string }
  /** A streamed piece of a tool call; `index` pairs pieces of one call before its id is known. */
  | {
      readonly kind: 'tool_call_delta';
      readonly message_id: string;
      readonly index: number;
      readonly tool_call_id?: string;
      readonly tool_name?: string;
      readonly args_delta: string;
    }
  /** A model call's complete answer (streamed or not). */
  | {
      readonly kind: 'model_message';
      readonly message_id: string;
      readonly text: string;
      readonly tool_calls: readonly CompletedToolCall[];
      readonly usage?: TokenUsage;
    }
  /**
   * A model call attempt that failed or timed out after it had streamed part of a message: that
   * message and its tool calls end here, incomplete; its retry streams under a new message id.
   */
  | { readonly kind: 'message_abandoned'; readonly message_id: string }
  /** A tool's outcome; `error` is a short, safe reason when it failed. */
  | {
      readonly kind: 'tool_result';
      readonly tool_call_id: string;
      readonly tool_name: string;
      readonly result: string;
      readonly error?: string;
    };

export interface TokenUsage {
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly total_tokens: number;
}

/** Longest tool name and tool call id the run log stores (agent_chat_messages.tool_name, .tool_call_id). */
export const MAX_TOOL_NAME_LENGTH = 64;
export const MAX_TOOL_CALL_ID_LENGTH = 128;

/**
 * A model-supplied tool name or call id cut to `max` characters, so a model that invents a long
 * one cannot make its run unstorable. A cut value ends with a hash of the whole, so two values
 * that differ only past the cut stay apart (and one value always cuts the same way, which keeps
 * a call paired with its result).
 */
export function boundModelText(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 9)}~${createHash('sha256').update(text).digest('hex').slice(0, 8)}`;
}
