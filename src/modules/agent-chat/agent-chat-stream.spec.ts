import { wantsEventStream } from './agent-chat-stream';

describe('wantsEventStream', () => {
  it.each([
    ['text/event-stream', true],
    ['Text/Event-Stream; charset=utf-8', true],
    ['text/event-stream, application/json', true],
    ['application/json;q=0.9, text/event-stream', true],
    ['text/event-stream, */*;q=0.1', true],
    [undefined, false],
    ['', false],
    ['application/json', false],
    ['*/*', false],
    ['text/event-stream;q=0', false],
    ['application/json, text/event-stream;q=0.5', false],
    ['*/*, text/event-stream;q=0.8', false],
    ['text/event-stream;q=abc', false],
  ])('%p → %p', (accept, expected) => {
    expect(wantsEventStream(accept)).toBe(expected);
  });
});
