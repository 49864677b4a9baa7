import { AsyncLocalStorage } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AIMessage, ToolMessage } from '@langchain/core/messages';
import { z } from 'zod';
import { fakeModel } from '@langchain/core/testing';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import type { AuthUser } from '../../../common/auth';
import type { AgentStreamPart, AgUiEvent } from '../events/ag-ui-events';
import { AgUiEventMapper } from '../events/event-mapper';
import type { AgentToolDefinition } from '../tools/agent-tool';
import { calculatorTool } from '../tools/calculator.tool';
import { ToolExecutor } from '../tools/tool-executor';
import { AgentRunner, type AgentRunInput } from './agent-runner';
import type { ChatModelFactory } from './chat-model.factory';
import { OfflineChatModel } from './offline-chat-model';
import { GatedModel, ScriptedStreamModel } from './testing';

/** Never answers; settles only when its call is aborted. */
class NeverAnsweringModel extends BaseChatModel {
  started = 0;
  aborted = 0;
  constructor() {
    super({});
  }
  _llmType(): string {
    return 'never';
  }
  override bindTools(): this {
    return this;
  }
  _generate(_messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    this.started++;
    return new Promise((_, reject) => {
      options.signal?.addEventListener('abort', () => {
        this.aborted++;
        reject(new Error('aborted'));
      });
    });
  }
}

/** Asks `whoami` when it may call tools, then answers with what the tool said; keeps nothing between calls. */
class WhoAmIModel extends BaseChatModel {
  constructor(private readonly canCallTools = false) {
    super({});
  }
  _llmType(): string {
    return 'whoami';
  }
  override bindTools(tools: unknown[]): WhoAmIModel {
    return new WhoAmIModel(tools.length > 0);
  }
  _generate(messages: BaseMessage[]): Promise<ChatResult> {
    const last = messages[messages.length - 1];
    const message = ToolMessage.isInstance(last)
      ? new AIMessage(`you are ${last.text}`)
      : this.canCallTools
        ? new AIMessage({ content: '', tool_calls: [{ id: `call_${Math.random()}`, name: 'whoami', args: {}, type: 'tool_call' }] })
        : new AIMessage('no tools');
    return Promise.resolve({ generations: [{ text: message.text, message }] });
  }
}

/** The caller's id, after a pause that lets concurrent runs interleave. */
const whoamiTool: AgentToolDefinition = {
  name: 'whoami',
  description: 'The caller.',
  schema: z.object({}),
  maxOutputChars: 100,
  run: async (_args, context) => {
    await new Promise((r) => setTimeout(r, 5));
    return context.user.id;
  },
};

async function eventuallyTrue(probe: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !probe(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(probe()).toBe(true);
}

const user: AuthUser = { id: 'u1', sessionId: 's1', role: 'user' };
/** Tool calls' audit lines, discarded (one test records them). */
const silentAudit = { write: (): void => undefined };

function runnerFor(model: BaseChatModel): AgentRunner {
  return new AgentRunner({ create: () => model, describe: () => ({ provider: 'fake', model: 'fake' }) } as unknown as ChatModelFactory);
}

async function collect(runner: AgentRunner, message: string, overrides: Partial<AgentRunInput> = {}): Promise<AgentStreamPart[]> {
  const parts: AgentStreamPart[] = [];
  for await (const part of runner.run(inputFor(message, overrides))) parts.push(part);
  return parts;
}

function inputFor(message: string, overrides: Partial<AgentRunInput> = {}): AgentRunInput {
  const signal = overrides.signal ?? new AbortController().signal;
  return {
    history: [{ role: 'user', content: message }],
    systemPrompt: 'test',
    tools: [calculatorTool()],
    executor: new ToolExecutor({ user, runId: 'r1', signal }, { timeoutMs: 1000, maxToolCalls: 8 }, silentAudit),
    signal,
    modelTimeoutMs: 1000,
    maxModelCalls: 6,
    modelRetries: 1,
    ...overrides,
  };
}

describe('AgentRunner', () => {
  it('reports a tool loop of a non-streaming model as complete messages and results', async () => {
    const model = fakeModel()
      .respondWithTools([{ name: 'calculator', args: { expression: '6*7' }, id: 'c1' }])
      .respond(new AIMessage('It is 42.'));
    const parts = await collect(runnerFor(model), 'what is 6*7');
    expect(parts.map((p) => p.kind)).toEqual(['model_message', 'tool_result', 'model_message']);
    expect(parts[0]).toMatchObject({ tool_calls: [{ id: 'c1', name: 'calculator', args: { expression: '6*7' } }] });
    expect(parts[1]).toEqual({ kind: 'tool_result', tool_call_id: 'c1', tool_name: 'calculator', result: '42' });
    expect(parts[2]).toMatchObject({ text: 'It is 42.', tool_calls: [] });
  });

  it('streams text deltas of a streaming model under one message id', async () => {
    const parts = await collect(runnerFor(new FakeListChatModel({ responses: ['hello there'] })), 'hi');
    const deltas = parts.filter((p) => p.kind === 'text_delta');
    expect(deltas.map((p) => (p.kind === 'text_delta' ? p.delta : '')).join('')).toBe('hello there');
    const final = parts[parts.length - 1];
    expect(final).toMatchObject({ kind: 'model_message', text: 'hello there' });
    expect(new Set(parts.map((p) => ('message_id' in p ? p.message_id : '')))).toEqual(
      new Set([final?.kind === 'model_message' ? final.message_id : 'x']),
    );
  });

  it('without token streaming (JSON answers) reports whole messages only: same tool loop, same final text', async () => {
    const parts = await collect(runnerFor(new OfflineChatModel()), 'please compute (2 + 3) * 4', { streamTokens: false });
    expect(parts.map((p) => p.kind)).toEqual(['model_message', 'tool_result', 'model_message']);
    expect(parts[0]).toMatchObject({ tool_calls: [{ name: 'calculator', args: { expression: '(2 + 3) * 4' } }] });
    expect(parts[1]).toMatchObject({ tool_name: 'calculator', result: '20' });
    expect(parts[2]).toMatchObject({ kind: 'model_message', text: 'The result is 20.' });
  });

  it('streams the offline model: tool call chunks, tool result, then text', async () => {
    const parts = await collect(runnerFor(new OfflineChatModel()), 'please compute (2 + 3) * 4');
    expect(parts.find((p) => p.kind === 'tool_call_delta')).toMatchObject({
      tool_name: 'calculator',
      args_delta: '{"expression":"(2 + 3) * 4"}',
    });
    expect(parts.find((p) => p.kind === 'tool_result')).toMatchObject({ tool_name: 'calculator', result: '20' });
    expect(parts[parts.length - 1]).toMatchObject({ kind: 'model_message', text: 'The result is 20.' });
  });

  it('wraps tool failures: the model sees "failed", the part carries an error code', async () => {
    const model = fakeModel()
      .respondWithTools([{ name: 'calculator', args: { expression: '1/0' }, id: 'c1' }])
      .respond(new AIMessage('Cannot divide by zero.'));
    const parts = await collect(runnerFor(model), 'x');
    expect(parts[1]).toEqual({
      kind: 'tool_result',
      tool_call_id: 'c1',
      tool_name: 'calculator',
      result: 'Tool calculator failed: division by zero.',
      error: 'invalid_input',
    });
  });

  it('counts and audits calls of unknown tools and calls with invalid arguments, as every call', async () => {
    const lines: { event?: string; tool?: string; outcome?: string }[] = [];
    {
      const signal = new AbortController().signal;
      const audit = { write: (fields: { event: string }) => void lines.push(fields) };
      const executor = new ToolExecutor({ user, runId: 'r1', signal }, { timeoutMs: 1000, maxToolCalls: 2 }, audit);
      const model = fakeModel()
        .respondWithTools([
          { name: 'no_such_tool', args: {}, id: 'c1' },
          { name: 'calculator', args: { expression: 42 }, id: 'c2' },
        ])
        .respondWithTools([{ name: 'calculator', args: { expression: '1 + 1' }, id: 'c3' }])
        .respond(new AIMessage('done'));
      const parts = await collect(runnerFor(model), 'x', { executor, signal });
      const results = parts.filter((p) => p.kind === 'tool_result');
      expect(results.map((p) => (p.kind === 'tool_result' ? [p.tool_call_id, p.tool_name, p.error] : []))).toEqual([
        ['c1', 'no_such_tool', 'unknown_tool'],
        ['c2', 'calculator', 'invalid_input'],
        ['c3', 'calculator', 'tool_call_limit'], // the budget (2) went to the first two
      ]);
      expect(executor.callCount).toBe(2);
      const audited = lines.filter((l) => l.event === 'audit.agent_tool_call').map((l) => `${l.tool}:${l.outcome}`);
      expect(audited.sort()).toEqual(['calculator:invalid_input', 'calculator:tool_call_limit', 'no_such_tool:unknown_tool']);
    }
  });

  it('bounds tool names and call ids a model made up to what the run log stores (64 and 128 characters)', async () => {
    const name = 'n'.repeat(100);
    const id = 'i'.repeat(300);
    const model = fakeModel()
      .respondWithTools([{ name, args: {}, id }])
      .respond(new AIMessage('done'));
    const parts = await collect(runnerFor(model), 'x');
    const call = parts[0]?.kind === 'model_message' ? parts[0].tool_calls[0] : undefined;
    const result = parts[1];
    expect(call?.name).toHaveLength(64);
    expect(call?.id).toHaveLength(128);
    expect(call?.name.startsWith('n'.repeat(50))).toBe(true);
    expect(result).toMatchObject({ kind: 'tool_result', tool_call_id: call?.id, tool_name: call?.name, error: 'unknown_tool' });
    // Two made-up names that differ only past the limit stay apart.
    const other = await collect(
      runnerFor(
        fakeModel()
          .respondWithTools([{ name: `${'n'.repeat(99)}m`, args: {}, id: 'c' }])
          .respond(new AIMessage('done')),
      ),
      'x',
    );
    expect(other[0]?.kind === 'model_message' ? other[0].tool_calls[0]?.name : undefined).not.toBe(call?.name);
  });

  it('compiles one agent per model, tool list and prompt, and rebuilds none for later runs', async () => {
    const { agentFor } = await import('./langchain-agent');
    const model = new WhoAmIModel();
    const tools = [whoamiTool];
    const agent = agentFor(model, tools, 'p');
    expect(agentFor(model, tools, 'p')).toBe(agent);
    expect(agentFor(model, [whoamiTool], 'p')).not.toBe(agent);
    expect(agentFor(model, tools, 'other prompt')).not.toBe(agent);
    expect(agentFor(new WhoAmIModel(), tools, 'p')).not.toBe(agent);
  });

  it('runs sharing one compiled agent keep their own caller and their own model-call budget', async () => {
    const runner = runnerFor(new WhoAmIModel());
    const tools = [whoamiTool];
    const runAs = async (id: string): Promise<string> => {
      const signal = new AbortController().signal;
      const executor = new ToolExecutor(
        { user: { ...user, id }, runId: `r-${id}`, signal },
        { timeoutMs: 1000, maxToolCalls: 8 },
        silentAudit,
      );
      // Two model calls each (tool call, answer): exactly the budget, so a count shared between
      // runs would fail the second run.
      const parts = await collect(runner, 'who am i', { tools, executor, signal, maxModelCalls: 2, streamTokens: false });
      const last = parts[parts.length - 1];
      return last?.kind === 'model_message' ? last.text : '';
    };
    const ids = Array.from({ length: 6 }, (_, i) => `user-${i}`);
    expect(await Promise.all(ids.map(runAs))).toEqual(ids.map((id) => `you are ${id}`));
    expect(await runAs('later')).toBe('you are later');
  });

  it('turns a failing model into a ModelFailure after one retry', async () => {
    const model = fakeModel().alwaysThrow(new Error('boom'));
    await expect(collect(runnerFor(model), 'x')).rejects.toMatchObject({ name: 'ModelFailure', code: 'model_error' });
    expect(model.callCount).toBe(2);
  });

  it('times out a model that never answers, stopping each attempt', async () => {
    const model = new NeverAnsweringModel();
    await expect(collect(runnerFor(model), 'x', { modelTimeoutMs: 50, modelRetries: 1 })).rejects.toMatchObject({
      code: 'model_timeout',
    });
    expect(model.started).toBe(2); // one retry
    await eventuallyTrue(() => model.aborted === 2); // neither call is left running
  });

  it('aborts the model call when the run signal aborts', async () => {
    const model = new NeverAnsweringModel();
    const controller = new AbortController();
    const run = collect(runnerFor(model), 'x', { modelTimeoutMs: 10_000, signal: controller.signal });
    await eventuallyTrue(() => model.started === 1);
    controller.abort();
    await expect(run).rejects.toBeDefined();
    expect(model.aborted).toBe(1);
    expect(model.started).toBe(1); // no retry of an aborted run
  });
});

/** The run's events as the service makes them from `parts`, ending with RUN_FINISHED. */
function eventsOf(parts: readonly AgentStreamPart[]): AgUiEvent[] {
  const mapper = new AgUiEventMapper('r1', 's1');
  return [...mapper.start(), ...parts.flatMap((p) => mapper.push(p)), ...mapper.finish()];
}

/** Every message and tool call opened in `events` is closed before the last event. */
function expectAllClosed(events: readonly AgUiEvent[]): void {
  const open = new Set<string>();
  for (const e of events.slice(0, -1)) {
    if (e.type === 'TEXT_MESSAGE_START') open.add(`m:${e.message_id}`);
    if (e.type === 'TEXT_MESSAGE_END') open.delete(`m:${e.message_id}`);
    if (e.type === 'TOOL_CALL_START') open.add(`t:${e.tool_call_id}`);
    if (e.type === 'TOOL_CALL_END') open.delete(`t:${e.tool_call_id}`);
  }
  expect([...open]).toEqual([]);
}

/** The deltas of the last assistant text message, concatenated. */
function lastMessageText(events: readonly AgUiEvent[]): string {
  const starts = events.filter((e) => e.type === 'TEXT_MESSAGE_START');
  const last = starts[starts.length - 1];
  return events
    .filter((e) => e.type === 'TEXT_MESSAGE_CONTENT' && last?.type === 'TEXT_MESSAGE_START' && e.message_id === last.message_id)
    .map((e) => (e.type === 'TEXT_MESSAGE_CONTENT' ? e.delta : ''))
    .join('');
}

describe('a retried model call', () => {
  it("streams the retry as a new message: the failed attempt's partial text is closed and not part of the output", async () => {
    const model = new ScriptedStreamModel([
      ['Hel', new Error('stream broke')],
      ['Hel', 'lo'],
    ]);
    const parts = await collect(runnerFor(model), 'hi');
    const final = parts[parts.length - 1];
    expect(final).toMatchObject({ kind: 'model_message', text: 'Hello' });
    const events = eventsOf(parts);
    expectAllClosed(events);
    expect(lastMessageText(events)).toBe('Hello');
    expect(events[events.length - 1]).toEqual({ type: 'RUN_FINISHED', run_id: 'r1', output: 'Hello' });
    // The stored message (the model_message part) is the retry's: its id is the last text message's.
    const lastStart = events.filter((e) => e.type === 'TEXT_MESSAGE_START').at(-1);
    expect(lastStart).toMatchObject({ message_id: final?.kind === 'model_message' ? final.message_id : 'none' });
    expect(model.signals).toHaveLength(2);
    expect(model.signals[0]?.aborted).toBe(true); // the failed attempt's call is stopped
    expect(model.signals[1]?.aborted).toBe(false);
  });

  it('stops a timed-out attempt, and drops what its stream still sends while the retry answers', async () => {
    // The first attempt's stream outlives its timeout (as a provider's does once headers arrived)
    // and sends more text in the middle of the retry's answer.
    const model = new ScriptedStreamModel([
      ['Hel', { waitMs: 600 }, 'lo w'],
      [{ waitMs: 100 }, 'Hello', { waitMs: 200 }, ' world'],
    ]);
    const parts = await collect(runnerFor(model), 'hi', { modelTimeoutMs: 400 });
    expect(parts[parts.length - 1]).toMatchObject({ kind: 'model_message', text: 'Hello world' });
    const events = eventsOf(parts);
    expectAllClosed(events);
    expect(lastMessageText(events)).toBe('Hello world');
    expect(events[events.length - 1]).toMatchObject({ type: 'RUN_FINISHED', output: 'Hello world' });
    expect(model.signals[0]?.aborted).toBe(true);
  });
});

describe("LangChain's run context between runs", () => {
  // Node documents that after `disable()` every `getStore()` answers undefined until the next
  // `run()`: a store set around a run and read after it tells whether the run switched it off.
  const storage = (): AsyncLocalStorage<unknown> => {
    const instance: unknown = AsyncLocalStorageProviderSingleton.getInstance();
    if (!(instance instanceof AsyncLocalStorage)) throw new Error('LangChain set up no AsyncLocalStorage');
    return instance as AsyncLocalStorage<unknown>;
  };

  it('is switched off when the last run in flight ends, and on again by the next run', async () => {
    await collect(runnerFor(new OfflineChatModel()), 'what is 1 + 1'); // loads LangChain, which sets up its storage
    const marker = { outside: 'any run' };
    const seen = await storage().run(marker, async () => {
      const before = storage().getStore();
      const parts = await collect(runnerFor(new OfflineChatModel()), 'please compute (2 + 3) * 4', { streamTokens: false });
      return { before, after: storage().getStore(), answer: parts[parts.length - 1] };
    });
    expect(seen.before).toBe(marker);
    expect(seen.after).toBeUndefined();
    expect(seen.answer).toMatchObject({ kind: 'model_message', text: 'The result is 20.' });
    // The next run works as the first did (LangChain's own run() switches the storage on).
    const again = await collect(runnerFor(new OfflineChatModel()), 'please compute 6 * 7');
    expect(again[again.length - 1]).toMatchObject({ kind: 'model_message', text: 'The result is 42.' });
  });

  it('stays on while another run is in flight, and that run finishes whole', async () => {
    const gated = new GatedModel('first half, ', 'second half');
    const slowParts: AgentStreamPart[] = [];
    const slow = (async () => {
      for await (const part of runnerFor(gated).run(inputFor('talk slowly'))) slowParts.push(part);
    })();
    await eventuallyTrue(() => slowParts.some((p) => p.kind === 'text_delta'));

    const marker = { outside: 'any run' };
    const after = await storage().run(marker, async () => {
      await collect(runnerFor(new OfflineChatModel()), 'please compute 2 * 3');
      return storage().getStore();
    });
    expect(after).toBe(marker); // the slow run is still in flight

    gated.release();
    await slow;
    const text = slowParts.filter((p) => p.kind === 'text_delta').map((p) => (p.kind === 'text_delta' ? p.delta : ''));
    expect(text.join('')).toBe('first half, second half'); // tokens from before and after the other run's end
    expect(slowParts[slowParts.length - 1]).toMatchObject({ kind: 'model_message', text: 'first half, second half' });
    const last = await storage().run(marker, async () => {
      await collect(runnerFor(new OfflineChatModel()), 'please compute 2 * 3');
      return storage().getStore();
    });
    expect(last).toBeUndefined();
  });
});

describe('start-up', () => {
  it('loads no LangChain module with the app (the first run loads it)', () => {
    // A fresh process, so nothing this test file imported counts: the app's whole static import
    // graph, then the agent loop as a control that the filter sees LangChain at all.
    const script = `
      require('reflect-metadata');
      const langchain = () => Object.keys(require.cache).filter((f) => /node_modules[\\/](langchain|@langchain)[\\/]/.test(f)).length;
      require('./src/app.module');
      const withApp = langchain();
      require('./src/modules/agent-chat/llm/langchain-agent');
      process.stdout.write(JSON.stringify({ withApp, withAgentLoop: langchain() > 0 }));`;
    const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: join(__dirname, '../../../..'),
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({ withApp: 0, withAgentLoop: true });
  }, 60_000);
});
