import type { HistoryMessage } from './history-message';
import { trimHistory } from './trim-history';

const user = (content: string): HistoryMessage => ({ role: 'user', content });
const assistant = (content: string): HistoryMessage => ({ role: 'assistant', content });
const toolCall = (id: string): HistoryMessage => ({
  role: 'assistant',
  content: '',
  toolCalls: [{ id, name: 'calculator', args: { expression: '1+1' } }],
});
const toolResult = (id: string): HistoryMessage => ({ role: 'tool', content: '2', toolCallId: id, toolName: 'calculator' });

describe('trimHistory', () => {
  it('keeps everything that fits', () => {
    const history = [user('a'), assistant('b'), user('c')];
    expect(trimHistory(history, { maxMessages: 10, maxChars: 100 })).toEqual(history);
  });

  it('keeps the newest messages within the message budget, starting at a user message', () => {
    const history = [user('1'), assistant('2'), user('3'), assistant('4'), user('5')];
    expect(trimHistory(history, { maxMessages: 3, maxChars: 100 })).toEqual([user('3'), assistant('4'), user('5')]);
    // A window of 4 would start at an assistant message: it is dropped.
    expect(trimHistory(history, { maxMessages: 4, maxChars: 100 })).toEqual([user('3'), assistant('4'), user('5')]);
  });

  it('keeps the newest messages within the character budget', () => {
    const history = [user('x'.repeat(50)), assistant('y'.repeat(50)), user('z'.repeat(10))];
    expect(trimHistory(history, { maxMessages: 10, maxChars: 70 })).toEqual([user('z'.repeat(10))]);
  });

  it('never starts with a tool result or a tool call cut from its partner', () => {
    const history = [user('q1'), toolCall('c1'), toolResult('c1'), assistant('2'), user('q2')];
    expect(trimHistory(history, { maxMessages: 3, maxChars: 1000 })).toEqual([user('q2')]);
    expect(trimHistory(history, { maxMessages: 4, maxChars: 1000 })).toEqual([user('q2')]);
    expect(trimHistory(history, { maxMessages: 5, maxChars: 1000 })).toEqual(history);
  });

  it('always keeps the newest message even when it alone exceeds the budget', () => {
    const big = user('x'.repeat(500));
    expect(trimHistory([user('old'), big], { maxMessages: 10, maxChars: 100 })).toEqual([big]);
  });
});
