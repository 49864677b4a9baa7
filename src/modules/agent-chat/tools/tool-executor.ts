import { Logger } from '@nestjs/common';
import type { AuditLog } from '../../../common/logging/audit-log';
import { ToolInputError, type AgentToolDefinition, type ToolContext, type ToolOutcome } from './agent-tool';

const TRUNCATION_MARK = '… [truncated]';

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, Math.max(0, max - TRUNCATION_MARK.length)) + TRUNCATION_MARK;
}

export interface ToolLimits {
  readonly timeoutMs: number;
  readonly maxToolCalls: number;
}

class ToolTimeoutError extends Error {}

/**
 * Runs tools for one agent run: call budget, timeout, output cap, error wrapping and one audit
 * line per call. Failures never throw: the model gets "tool X failed" and the client an `error`
 * code, while the cause stays in the server log.
 */
export class ToolExecutor {
  /** A tool's unexpected failures (diagnostics, not the audit trail). */
  private static readonly logger = new Logger('AgentTool');
  private calls = 0;

  constructor(
    private readonly context: ToolContext,
    private readonly limits: ToolLimits,
    /** The audit trail: written whatever LOG_LEVEL is (short of silent), as CONTRACT.md asks of tool calls. */
    private readonly audit: Pick<AuditLog, 'write'>,
  ) {}

  get callCount(): number {
    return this.calls;
  }

  async execute(tool: AgentToolDefinition, rawArgs: unknown): Promise<ToolOutcome> {
    return this.audited(tool.name, () => this.run(tool, rawArgs));
  }

  /**
   * A call of a tool this run does not offer (a name the model made up): counted toward the
   * budget and audited like any call, so a model cannot loop on invented tools for free.
   */
  async executeUnknown(name: string, offered: readonly string[]): Promise<ToolOutcome> {
    return this.audited(name, () =>
      Promise.resolve(
        this.refusedByBudget(name) ?? {
          content: `Tool ${name} does not exist. The tools you can use: ${offered.join(', ') || 'none'}.`,
          error: 'unknown_tool' as const,
        },
      ),
    );
  }

  private async audited(name: string, call: () => Promise<ToolOutcome>): Promise<ToolOutcome> {
    const started = Date.now();
    const outcome = await call();
    this.audit.write(
      {
        event: 'audit.agent_tool_call',
        tool: name,
        user_id: this.context.user.id,
        run_id: this.context.runId,
        outcome: outcome.error ?? 'ok',
        duration_ms: Date.now() - started,
      },
      'agent tool call',
    );
    return outcome;
  }

  /** Takes one call from the budget, or says why not. */
  private refusedByBudget(name: string): ToolOutcome | undefined {
    if (this.calls >= this.limits.maxToolCalls) {
      return {
        content: `Tool ${name} was not run: this run reached its limit of ${this.limits.maxToolCalls} tool calls. Answer with what you have.`,
        error: 'tool_call_limit',
      };
    }
    this.calls++;
    return undefined;
  }

  private async run(tool: AgentToolDefinition, rawArgs: unknown): Promise<ToolOutcome> {
    const refused = this.refusedByBudget(tool.name);
    if (refused) return refused;
    const args = tool.schema.safeParse(rawArgs ?? {});
    if (!args.success) return { content: `Tool ${tool.name} failed: invalid arguments.`, error: 'invalid_input' };
    const signal = AbortSignal.any([this.context.signal, AbortSignal.timeout(this.limits.timeoutMs)]);
    try {
      const result = await raceAbort(tool.run(args.data, { ...this.context, signal }), signal, this.context.signal);
      return { content: truncate(result, tool.maxOutputChars) };
    } catch (error) {
      if (this.context.signal.aborted) throw error; // the run is over: let the agent loop stop
      if (error instanceof ToolTimeoutError) return { content: `Tool ${tool.name} failed: it timed out.`, error: 'tool_timeout' };
      if (error instanceof ToolInputError)
        return { content: truncate(`Tool ${tool.name} failed: ${error.message}.`, tool.maxOutputChars), error: 'invalid_input' };
      ToolExecutor.logger.warn({ event: 'agent_tool_error', tool: tool.name, run_id: this.context.runId, err: error });
      return { content: `Tool ${tool.name} failed.`, error: 'tool_failed' };
    }
  }
}

/** Settles with the tool, or rejects as soon as the signal aborts (a tool may ignore it). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal, runSignal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(runSignal.aborted ? (runSignal.reason as Error) : new ToolTimeoutError('tool timed out'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
