import type { AgentStreamPart, AgUiEvent } from './ag-ui-events';
import { AgUiEventMapper, mergeDeltas } from './event-mapper';

function run(parts: AgentStreamPart[], end: 'finish' | 'fail' = 'finish'): { events: AgUiEvent[]; output: string } {
  const mapper = new AgUiEventMapper('run-1', 'session-1');
  const events = [...mapper.start()];
  for (const part of parts) events.push(...mapper.push(part));
  events.push(...(end === 'finish' ? mapper.finish() : mapper.fail('model_timeout', 'too slow')));
  return { events, output: mapper.output };
}

/** The contract's invariants, checked on every scenario. */
function expectWellFormed(events: AgUiEvent[]): void {
  expect(events[0]?.type).toBe('RUN_STARTED');
  const last = events[events.length - 1];
  expect(['RUN_FINISHED', 'RUN_ERROR']).toContain(last?.type);
  expect(events.filter((e) => e.type === 'RUN_FINISHED' || e.type === 'RUN_ERROR')).toHaveLength(1);
  const openMessages = new Set<string>();
  const openCalls = new Set<string>();
  for (const e of events) {
    if (e.type === 'TEXT_MESSAGE_START') openMessages.add(e.message_id);
    if (e.type === 'TEXT_MESSAGE_CONTENT') expect(openMessages.has(e.message_id)).toBe(true);
    if (e.type === 'TEXT_MESSAGE_END') expect(openMessages.delete(e.message_id)).toBe(true);
    if (e.type === 'TOOL_CALL_START') openCalls.add(e.tool_call_id);
    if (e.type === 'TOOL_CALL_ARGS') expect(openCalls.has(e.tool_call_id)).toBe(true);
    if (e.type === 'TOOL_CALL_END') expect(openCalls.delete(e.tool_call_id)).toBe(true);
  }
  expect([...openMessages, ...openCalls]).toEqual([]);
  if (last?.type === 'RUN_FINISHED') {
    const lastStart = events.filter((e) => e.type === 'TEXT_MESSAGE_START').pop();
    const deltas =
      lastStart?.type === 'TEXT_MESSAGE_START'
        ? events
            .filter((e) => e.type === 'TEXT_MESSAGE_CONTENT' && e.message_id === lastStart.message_id)
            .map((e) => (e.type === 'TEXT_MESSAGE_CONTENT' ? e.delta : ''))
        : [];
    expect(deltas.join('')).toBe(last.output);
  }
}

const types = (events: AgUiEvent[]): string[] => events.map((e) => e.type);

describe('AgUiEventMapper', () => {
  it('maps streamed text to one message whose deltas equal the output', () => {
    const { events, output } = run([
      { kind: 'text_delta', message_id: 'm1', delta: 'Hel' },
      { kind: 'text_delta', message_id: 'm1', delta: 'lo' },
      { kind: 'model_message', message_id: 'm1', text: 'Hello', tool_calls: [] },
    ]);
    expect(types(events)).toEqual([
      'RUN_STARTED',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_FINISHED',
    ]);
    expect(events[0]).toEqual({ type: 'RUN_STARTED', run_id: 'run-1', session_id: 'session-1' });
    expect(output).toBe('Hello');
    expectWellFormed(events);
  });

  it('sends the tail when the final message has more text than was streamed', () => {
    const { events, output } = run([
      { kind: 'text_delta', message_id: 'm1', delta: 'Hel' },
      { kind: 'model_message', message_id: 'm1', text: 'Hello!', tool_calls: [] },
    ]);
    expect(output).toBe('Hello!');
    expect(events.filter((e) => e.type === 'TEXT_MESSAGE_CONTENT')).toHaveLength(2);
    expectWellFormed(events);
  });

  it('maps a tool call with streamed args, its result, then the answer', () => {
    const { events, output } = run([
      { kind: 'tool_call_delta', message_id: 'm1', index: 0, tool_call_id: 'c1', tool_name: 'calculator', args_delta: '' },
      { kind: 'tool_call_delta', message_id: 'm1', index: 0, args_delta: '{"expression":' },
      { kind: 'tool_call_delta', message_id: 'm1', index: 0, args_delta: '"1+2"}' },
      { kind: 'model_message', message_id: 'm1', text: '', tool_calls: [{ id: 'c1', name: 'calculator', args: { expression: '1+2' } }] },
      { kind: 'tool_result', tool_call_id: 'c1', tool_name: 'calculator', result: '3' },
      { kind: 'text_delta', message_id: 'm2', delta: 'It is 3.' },
      { kind: 'model_message', message_id: 'm2', text: 'It is 3.', tool_calls: [] },
    ]);
    expect(types(events)).toEqual([
      'RUN_STARTED',
      'TOOL_CALL_START',
      'TOOL_CALL_ARGS',
      'TOOL_CALL_ARGS',
      'TOOL_CALL_END',
      'TOOL_CALL_RESULT',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_FINISHED',
    ]);
    expect(events[1]).toEqual({ type: 'TOOL_CALL_START', tool_call_id: 'c1', tool_name: 'calculator', parent_message_id: 'm1' });
    const args = events.filter((e) => e.type === 'TOOL_CALL_ARGS').map((e) => (e.type === 'TOOL_CALL_ARGS' ? e.delta : ''));
    expect(JSON.parse(args.join(''))).toEqual({ expression: '1+2' });
    expect(events[5]).toEqual({ type: 'TOOL_CALL_RESULT', tool_call_id: 'c1', tool_name: 'calculator', result: '3' });
    expect(output).toBe('It is 3.');
    expectWellFormed(events);
  });

  it('buffers args that arrive before the call id and name', () => {
    const { events } = run([
      { kind: 'tool_call_delta', message_id: 'm1', index: 0, args_delta: '{"a"' },
      { kind: 'tool_call_delta', message_id: 'm1', index: 0, tool_call_id: 'c1', tool_name: 't', args_delta: ':1}' },
      { kind: 'model_message', message_id: 'm1', text: '', tool_calls: [{ id: 'c1', name: 't', args: { a: 1 } }] },
    ]);
    expect(events.slice(1, 4)).toEqual([
      { type: 'TOOL_CALL_START', tool_call_id: 'c1', tool_name: 't', parent_message_id: 'm1' },
      { type: 'TOOL_CALL_ARGS', tool_call_id: 'c1', delta: '{"a":1}' },
      { type: 'TOOL_CALL_END', tool_call_id: 'c1' },
    ]);
    expectWellFormed(events);
  });

  it('reports a tool error on TOOL_CALL_RESULT', () => {
    const { events } = run([
      { kind: 'model_message', message_id: 'm1', text: '', tool_calls: [{ id: 'c1', name: 'my_profile', args: {} }] },
      { kind: 'tool_result', tool_call_id: 'c1', tool_name: 'my_profile', result: 'Tool my_profile failed.', error: 'tool_timeout' },
      { kind: 'model_message', message_id: 'm2', text: 'Sorry.', tool_calls: [] },
    ]);
    expect(events.find((e) => e.type === 'TOOL_CALL_RESULT')).toEqual({
      type: 'TOOL_CALL_RESULT',
      tool_call_id: 'c1',
      tool_name: 'my_profile',
      result: 'Tool my_profile failed.',
      error: 'tool_timeout',
    });
    expectWellFormed(events);
  });

  it('pairs parallel tool calls with their results by tool_call_id', () => {
    const { events } = run([
      { kind: 'tool_call_delta', message_id: 'm1', index: 0, tool_call_id: 'a', tool_name: 'current_time', args_delta: '' },
      { kind: 'tool_call_delta', message_id: 'm1', index: 1, tool_call_id: 'b', tool_name: 'calculator', args_delta: '' },
      { kind: 'tool_call_delta', message_id: 'm1', index: 1, args_delta: '{"expression":"2*3"}' },
      { kind: 'tool_call_delta', message_id: 'm1', index: 0, args_delta: '{}' },
      {
        kind: 'model_message',
        message_id: 'm1',
        text: '',
        tool_calls: [
          { id: 'a', name: 'current_time', args: {} },
          { id: 'b', name: 'calculator', args: { expression: '2*3' } },
        ],
      },
      { kind: 'tool_result', tool_call_id: 'b', tool_name: 'calculator', result: '6' },
      { kind: 'tool_result', tool_call_id: 'a', tool_name: 'current_time', result: 'noon' },
      { kind: 'model_message', message_id: 'm2', text: 'Noon; 6.', tool_calls: [] },
    ]);
    const results = events.filter((e) => e.type === 'TOOL_CALL_RESULT');
    expect(results.map((e) => (e.type === 'TOOL_CALL_RESULT' ? [e.tool_call_id, e.result] : []))).toEqual([
      ['b', '6'],
      ['a', 'noon'],
    ]);
    expect(events.filter((e) => e.type === 'TOOL_CALL_ARGS')).toEqual([
      { type: 'TOOL_CALL_ARGS', tool_call_id: 'b', delta: '{"expression":"2*3"}' },
      { type: 'TOOL_CALL_ARGS', tool_call_id: 'a', delta: '{}' },
    ]);
    expectWellFormed(events);
  });

  it('maps a non-streaming model (complete messages only)', () => {
    const { events, output } = run([
      {
        kind: 'model_message',
        message_id: 'm1',
        text: 'Checking.',
        tool_calls: [{ id: 'c1', name: 'current_time', args: { time_zone: 'UTC' } }],
      },
      { kind: 'tool_result', tool_call_id: 'c1', tool_name: 'current_time', result: '12:00' },
      { kind: 'model_message', message_id: 'm2', text: 'It is noon.', tool_calls: [] },
    ]);
    expect(types(events)).toEqual([
      'RUN_STARTED',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'TOOL_CALL_START',
      'TOOL_CALL_ARGS',
      'TOOL_CALL_END',
      'TOOL_CALL_RESULT',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_FINISHED',
    ]);
    expect(output).toBe('It is noon.');
    expect(events[events.length - 1]).toEqual({ type: 'RUN_FINISHED', run_id: 'run-1', output: 'It is noon.' });
    expectWellFormed(events);
  });

  it('closes what is open before RUN_ERROR and emits nothing after it', () => {
    const mapper = new AgUiEventMapper('r', 's');
    const events = [
      ...mapper.start(),
      ...mapper.push({ kind: 'text_delta', message_id: 'm1', delta: 'partial' }),
      ...mapper.push({ kind: 'tool_call_delta', message_id: 'm1', index: 0, tool_call_id: 'c', tool_name: 't', args_delta: '{' }),
      ...mapper.fail('model_timeout', 'The model took too long.'),
    ];
    expect(types(events).slice(-3)).toEqual(['TEXT_MESSAGE_END', 'TOOL_CALL_END', 'RUN_ERROR']);
    expect(events[events.length - 1]).toEqual({ type: 'RUN_ERROR', run_id: 'r', code: 'model_timeout', error: 'The model took too long.' });
    expect(mapper.push({ kind: 'text_delta', message_id: 'm2', delta: 'late' })).toEqual([]);
    expect(mapper.finish()).toEqual([]);
    expectWellFormed(events);
  });

  it("closes an abandoned attempt's message and tool call; the retry's message alone makes the output", () => {
    const { events, output } = run([
      { kind: 'text_delta', message_id: 'a1', delta: 'Hel' },
      { kind: 'tool_call_delta', message_id: 'a1', index: 0, tool_call_id: 'c1', tool_name: 'calculator', args_delta: '{"ex' },
      { kind: 'tool_call_delta', message_id: 'a1', index: 1, args_delta: '{' }, // never got its id and name
      { kind: 'message_abandoned', message_id: 'a1' },
      { kind: 'text_delta', message_id: 'a1', delta: 'lo w' }, // late: dropped
      { kind: 'tool_call_delta', message_id: 'a1', index: 1, tool_call_id: 'c2', tool_name: 'calculator', args_delta: '' },
      { kind: 'text_delta', message_id: 'a2', delta: 'Hello' },
      { kind: 'model_message', message_id: 'a2', text: 'Hello', tool_calls: [] },
    ]);
    expect(types(events)).toEqual([
      'RUN_STARTED',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TOOL_CALL_START',
      'TOOL_CALL_ARGS',
      'TEXT_MESSAGE_END',
      'TOOL_CALL_END',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_FINISHED',
    ]);
    expect(events[5]).toEqual({ type: 'TEXT_MESSAGE_END', message_id: 'a1' });
    expect(output).toBe('Hello');
    expectWellFormed(events);
  });

  it('gives an empty output when the abandoned attempt is the last message (the run then fails or answers anew)', () => {
    const mapper = new AgUiEventMapper('run-1', 'session-1');
    mapper.push({ kind: 'text_delta', message_id: 'a1', delta: 'Hel' });
    expect(mapper.push({ kind: 'message_abandoned', message_id: 'a1' })).toEqual([{ type: 'TEXT_MESSAGE_END', message_id: 'a1' }]);
    expect(mapper.output).toBe('');
  });

  it("gives an empty output when the last model message has no text, not an earlier message's", () => {
    const streamed = run([
      { kind: 'text_delta', message_id: 'm1', delta: 'Let me check.' },
      { kind: 'model_message', message_id: 'm1', text: 'Let me check.', tool_calls: [{ id: 'c1', name: 'calculator', args: {} }] },
      { kind: 'tool_result', tool_call_id: 'c1', tool_name: 'calculator', result: '42' },
      { kind: 'model_message', message_id: 'm2', text: '', tool_calls: [] },
    ]);
    expect(streamed.output).toBe('');
    expect(streamed.events.at(-1)).toEqual({ type: 'RUN_FINISHED', run_id: 'run-1', output: '' });
    // Whole messages only (the JSON answer's model path): the same.
    const whole = run([
      { kind: 'model_message', message_id: 'm1', text: 'Let me check.', tool_calls: [{ id: 'c1', name: 'calculator', args: {} }] },
      { kind: 'tool_result', tool_call_id: 'c1', tool_name: 'calculator', result: '42' },
      { kind: 'model_message', message_id: 'm2', text: '', tool_calls: [] },
    ]);
    expect(whole.output).toBe('');
  });

  it('keeps the output of a last model message whose text was streamed before its final form', () => {
    const { output } = run([
      { kind: 'text_delta', message_id: 'm1', delta: 'Done' },
      { kind: 'model_message', message_id: 'm1', text: 'Done', tool_calls: [] },
    ]);
    expect(output).toBe('Done');
  });

  it('mergeDeltas merges consecutive deltas of one message without changing their concatenation', () => {
    const { events } = run([
      { kind: 'text_delta', message_id: 'm1', delta: 'a' },
      { kind: 'text_delta', message_id: 'm1', delta: 'b' },
      { kind: 'text_delta', message_id: 'm1', delta: 'c' },
      { kind: 'model_message', message_id: 'm1', text: 'abc', tool_calls: [] },
    ]);
    const merged = mergeDeltas(events);
    expect(merged.filter((e) => e.type === 'TEXT_MESSAGE_CONTENT')).toEqual([
      { type: 'TEXT_MESSAGE_CONTENT', message_id: 'm1', delta: 'abc' },
    ]);
    expectWellFormed(merged);
  });
});
