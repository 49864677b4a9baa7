import { Logger } from '@nestjs/common';
import { z } from 'zod';
import { ToolInputError, type AgentToolDefinition, type ToolContext } from './agent-tool';
import { ToolExecutor } from './tool-executor';

const user = { id: 'u1', sessionId: 's1', role: 'user' as const };

function tool(run: AgentToolDefinition['run'], maxOutputChars = 1000): AgentToolDefinition {
  return { name: 'probe', description: 'test tool', schema: z.object({ x: z.number().optional() }), maxOutputChars, run };
}

function executor(signal = new AbortController().signal, limits = { timeoutMs: 50, maxToolCalls: 8 }): ToolExecutor {
  const context: ToolContext = { user, runId: 'r1', signal };
  return new ToolExecutor(context, limits, { write: () => undefined });
}

describe('ToolExecutor', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    Logger.overrideLogger(['log', 'error', 'warn']);
  });

  it('passes the server-side identity and returns the result', async () => {
    const seen: ToolContext[] = [];
    const outcome = await executor().execute(
      tool((_args, ctx) => {
        seen.push(ctx);
        return Promise.resolve('ok');
      }),
      {},
    );
    expect(outcome).toEqual({ content: 'ok' });
    expect(seen[0]?.user).toEqual(user);
  });

  it('times out a tool that never settles, and aborts its signal', async () => {
    let toolSignal: AbortSignal | undefined;
    const outcome = await executor().execute(
      tool((_args, ctx) => {
        toolSignal = ctx.signal;
        return new Promise<string>(() => undefined);
      }),
      {},
    );
    expect(outcome).toEqual({ content: 'Tool probe failed: it timed out.', error: 'tool_timeout' });
    expect(toolSignal?.aborted).toBe(true);
  });

  it('rethrows when the run itself is aborted while a tool runs (client gone, run timeout)', async () => {
    const run = new AbortController();
    const pending = executor(run.signal, { timeoutMs: 10_000, maxToolCalls: 8 }).execute(
      tool(() => new Promise<string>(() => undefined)),
      {},
    );
    run.abort(new Error('client disconnected'));
    await expect(pending).rejects.toThrow('client disconnected');
  });

  it('truncates long output', async () => {
    const outcome = await executor().execute(
      tool(() => Promise.resolve('x'.repeat(500)), 100),
      {},
    );
    expect(outcome.content).toHaveLength(100);
    expect(outcome.content.endsWith('… [truncated]')).toBe(true);
  });

  it('wraps failures without leaking internals, and keeps safe input errors', async () => {
    const failed = await executor().execute(
      tool(() => Promise.reject(new Error('SELECT secret FROM users'))),
      {},
    );
    expect(failed).toEqual({ content: 'Tool probe failed.', error: 'tool_failed' });
    const bad = await executor().execute(
      tool(() => Promise.reject(new ToolInputError('division by zero'))),
      {},
    );
    expect(bad).toEqual({ content: 'Tool probe failed: division by zero.', error: 'invalid_input' });
    const invalid = await executor().execute(
      tool(() => Promise.resolve('never')),
      { x: 'not a number' },
    );
    expect(invalid).toEqual({ content: 'Tool probe failed: invalid arguments.', error: 'invalid_input' });
  });

  it('refuses calls past the per-run budget', async () => {
    const ex = executor(undefined, { timeoutMs: 50, maxToolCalls: 2 });
    const ok = tool(() => Promise.resolve('ok'));
    expect((await ex.execute(ok, {})).error).toBeUndefined();
    expect((await ex.execute(ok, {})).error).toBeUndefined();
    expect((await ex.execute(ok, {})).error).toBe('tool_call_limit');
    expect(ex.callCount).toBe(2);
  });
});
