import type { AgentStreamPart, AgUiEvent, CompletedToolCall } from './ag-ui-events';

interface ToolCallState {
  id: string | undefined;
  name: string | undefined;
  readonly messageId: string;
  /** Argument text received before the call's id and name were known. */
  pendingArgs: string;
  argsSent: boolean;
  started: boolean;
  ended: boolean;
}

/**
 * Turns the agent's stream into AG-UI events. Pure and synchronous: plain parts in, events out,
 * so every ordering rule is unit-tested without a model. Guarantees: every message and tool
 * call that was opened is closed before the terminal event; nothing follows RUN_FINISHED or
 * RUN_ERROR; `output` is the concatenated deltas of the last assistant message, empty when that
 * message has no text (never an earlier message's).
 */
export class AgUiEventMapper {
  private openText: { id: string; text: string } | undefined;
  private readonly closedTextIds = new Set<string>();
  private readonly abandonedIds = new Set<string>();
  private readonly toolCallsByKey = new Map<string, ToolCallState>();
  private readonly toolCallsById = new Map<string, ToolCallState>();
  private lastText = '';
  /** The message `lastText` belongs to. */
  private lastTextId: string | undefined;
  private terminated = false;

  constructor(
    private readonly runId: string,
    private readonly sessionId: string,
  ) {}

  /** The text of the last assistant message, exactly as streamed. */
  get output(): string {
    return this.lastText;
  }

  get finished(): boolean {
    return this.terminated;
  }

  start(): AgUiEvent[] {
    return [{ type: 'RUN_STARTED', run_id: this.runId, session_id: this.sessionId }];
  }

  push(part: AgentStreamPart): AgUiEvent[] {
    if (this.terminated) return [];
    switch (part.kind) {
      case 'text_delta':
        return this.textDelta(part.message_id, part.delta);
      case 'tool_call_delta':
        return this.toolCallDelta(part);
      case 'model_message':
        return this.modelMessage(part.message_id, part.text, part.tool_calls);
      case 'message_abandoned':
        return this.abandon(part.message_id);
      case 'tool_result': {
        const out: AgUiEvent[] = [];
        let state = this.toolCallsById.get(part.tool_call_id);
        if (!state) {
          // A result for a call we never saw announced: announce it so the client can pair them.
          state = this.track(part.tool_call_id, `${part.tool_call_id}#result`, part.tool_name, '');
          out.push(...this.startCall(state));
        }
        out.push(...this.endCall(state));
        const result: AgUiEvent = {
          type: 'TOOL_CALL_RESULT',
          tool_call_id: part.tool_call_id,
          tool_name: part.tool_name,
          result: part.result,
        };
        if (part.error !== undefined) result.error = part.error;
        out.push(result);
        return out;
      }
    }
  }

  finish(): AgUiEvent[] {
    if (this.terminated) return [];
    const out = this.closeAll();
    this.terminated = true;
    out.push({ type: 'RUN_FINISHED', run_id: this.runId, output: this.lastText });
    return out;
  }

  fail(code: string, error: string): AgUiEvent[] {
    if (this.terminated) return [];
    const out = this.closeAll();
    this.terminated = true;
    out.push({ type: 'RUN_ERROR', run_id: this.runId, error, code });
    return out;
  }

  private textDelta(messageId: string, delta: string): AgUiEvent[] {
    if (delta.length === 0 || this.closedTextIds.has(messageId)) return [];
    const out: AgUiEvent[] = [];
    if (this.openText?.id !== messageId) {
      out.push(...this.closeText());
      this.openText = { id: messageId, text: '' };
      this.lastText = '';
      this.lastTextId = messageId;
      out.push({ type: 'TEXT_MESSAGE_START', message_id: messageId, role: 'assistant' });
    }
    this.openText.text += delta;
    this.lastText += delta;
    out.push({ type: 'TEXT_MESSAGE_CONTENT', message_id: messageId, delta });
    return out;
  }

  private toolCallDelta(part: Extract<AgentStreamPart, { kind: 'tool_call_delta' }>): AgUiEvent[] {
    if (this.abandonedIds.has(part.message_id)) return [];
    const key = `${part.message_id}:${part.index}`;
    let state = this.toolCallsByKey.get(key);
    if (!state) {
      state = {
        id: undefined,
        name: undefined,
        messageId: part.message_id,
        pendingArgs: '',
        argsSent: false,
        started: false,
        ended: false,
      };
      this.toolCallsByKey.set(key, state);
    }
    if (state.ended) return [];
    if (part.tool_call_id && state.id === undefined && !this.toolCallsById.has(part.tool_call_id)) {
      state.id = part.tool_call_id;
      this.toolCallsById.set(part.tool_call_id, state);
    }
    if (part.tool_name && state.name === undefined) state.name = part.tool_name;
    const out: AgUiEvent[] = [];
    if (!state.started) {
      state.pendingArgs += part.args_delta;
      if (state.id !== undefined && state.name !== undefined) out.push(...this.startCall(state));
      return out;
    }
    if (part.args_delta.length > 0) {
      state.argsSent = true;
      out.push({ type: 'TOOL_CALL_ARGS', tool_call_id: state.id!, delta: part.args_delta });
    }
    return out;
  }

  private modelMessage(messageId: string, text: string, toolCalls: readonly CompletedToolCall[]): AgUiEvent[] {
    const out: AgUiEvent[] = [];
    if (this.openText?.id === messageId) {
      // Streamed text is append-only: send whatever the final message has beyond it.
      const streamed = this.openText.text;
      if (text.length > streamed.length && text.startsWith(streamed)) out.push(...this.textDelta(messageId, text.slice(streamed.length)));
      out.push(...this.closeText());
    } else if (text.length > 0 && !this.closedTextIds.has(messageId)) {
      out.push(...this.textDelta(messageId, text));
      out.push(...this.closeText());
    }
    for (const call of toolCalls) {
      let state = this.toolCallsById.get(call.id);
      if (!state) {
        state = this.track(call.id, `${messageId}:final:${call.id}`, call.name, messageId);
        out.push(...this.startCall(state));
      }
      if (!state.started) out.push(...this.startCall(state));
      if (!state.argsSent && !state.ended) {
        state.argsSent = true;
        out.push({ type: 'TOOL_CALL_ARGS', tool_call_id: call.id, delta: JSON.stringify(call.args) });
      }
      out.push(...this.endCall(state));
    }
    // Streamed calls the final message did not confirm are closed too: nothing stays open.
    for (const state of this.toolCallsByKey.values()) if (state.messageId === messageId) out.push(...this.endCall(state));
    // This is now the last model message: one without text makes the output empty, whatever an
    // earlier message said.
    if (this.lastTextId !== messageId) this.clearOutput();
    return out;
  }

  /** A failed attempt's message: closed with whatever it had streamed, and no longer the output. */
  private abandon(messageId: string): AgUiEvent[] {
    this.abandonedIds.add(messageId);
    const out: AgUiEvent[] = [];
    if (this.openText?.id === messageId) out.push(...this.closeText());
    if (this.lastTextId === messageId) this.clearOutput();
    this.closedTextIds.add(messageId);
    for (const state of this.toolCallsByKey.values()) {
      if (state.messageId !== messageId) continue;
      out.push(...this.endCall(state));
      state.ended = true; // also a call that never got its id and name: it is never started
    }
    return out;
  }

  private clearOutput(): void {
    this.lastText = '';
    this.lastTextId = undefined;
  }

  private track(id: string, key: string, name: string, messageId: string): ToolCallState {
    const state: ToolCallState = { id, name, messageId, pendingArgs: '', argsSent: false, started: false, ended: false };
    this.toolCallsByKey.set(key, state);
    this.toolCallsById.set(id, state);
    return state;
  }

  private startCall(state: ToolCallState): AgUiEvent[] {
    if (state.started || state.id === undefined || state.name === undefined) return [];
    state.started = true;
    const start: AgUiEvent = { type: 'TOOL_CALL_START', tool_call_id: state.id, tool_name: state.name };
    if (state.messageId !== '') start.parent_message_id = state.messageId;
    const out: AgUiEvent[] = [start];
    if (state.pendingArgs.length > 0) {
      state.argsSent = true;
      out.push({ type: 'TOOL_CALL_ARGS', tool_call_id: state.id, delta: state.pendingArgs });
      state.pendingArgs = '';
    }
    return out;
  }

  private endCall(state: ToolCallState): AgUiEvent[] {
    if (!state.started || state.ended) return [];
    state.ended = true;
    return [{ type: 'TOOL_CALL_END', tool_call_id: state.id! }];
  }

  private closeText(): AgUiEvent[] {
    if (!this.openText) return [];
    const id = this.openText.id;
    this.openText = undefined;
    this.closedTextIds.add(id);
    return [{ type: 'TEXT_MESSAGE_END', message_id: id }];
  }

  private closeAll(): AgUiEvent[] {
    const out = this.closeText();
    for (const state of this.toolCallsByKey.values()) out.push(...this.endCall(state));
    return out;
  }
}

/**
 * For the JSON answer (CONTRACT.md allows it): consecutive deltas of one message or tool call
 * are merged into one event, so the body stays small while the concatenation is unchanged.
 */
export function mergeDeltas(events: readonly AgUiEvent[]): AgUiEvent[] {
  const out: AgUiEvent[] = [];
  for (const event of events) {
    const prev = out[out.length - 1];
    if (prev?.type === 'TEXT_MESSAGE_CONTENT' && event.type === 'TEXT_MESSAGE_CONTENT' && prev.message_id === event.message_id) {
      out[out.length - 1] = { ...prev, delta: prev.delta + event.delta };
    } else if (prev?.type === 'TOOL_CALL_ARGS' && event.type === 'TOOL_CALL_ARGS' && prev.tool_call_id === event.tool_call_id) {
      out[out.length - 1] = { ...prev, delta: prev.delta + event.delta };
    } else {
      out.push(event);
    }
  }
  return out;
}
