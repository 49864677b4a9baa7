import type { HistoryMessage } from './history-message';

export interface HistoryWindow {
  /** Most messages sent to the model. */
  readonly maxMessages: number;
  /** Rough size budget in characters (content plus tool-call arguments). */
  readonly maxChars: number;
}

/** Fits a small-context model comfortably (about 8k tokens at ~4 characters per token). */
export const DEFAULT_HISTORY_WINDOW: HistoryWindow = { maxMessages: 40, maxChars: 32_000 };

const sizeOf = (m: HistoryMessage): number => m.content.length + (m.toolCalls?.length ? JSON.stringify(m.toolCalls).length : 0);

/**
 * Keeps the newest messages that fit the window, then drops from the front until the window
 * starts at a user message: a tool result or a tool-calling assistant turn without its partner
 * is rejected by providers. The newest message (the user's new one) is always kept.
 */
export function trimHistory(messages: readonly HistoryMessage[], window: HistoryWindow = DEFAULT_HISTORY_WINDOW): HistoryMessage[] {
  let start = messages.length;
  let chars = 0;
  while (start > 0) {
    const next = messages[start - 1]!;
    const size = sizeOf(next);
    const isNewest = start === messages.length;
    if (!isNewest && (messages.length - start + 1 > window.maxMessages || chars + size > window.maxChars)) break;
    chars += size;
    start--;
  }
  const kept = messages.slice(start);
  const firstUser = kept.findIndex((m) => m.role === 'user');
  return firstUser <= 0 ? kept : kept.slice(firstUser);
}
