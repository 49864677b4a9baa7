import { randomUUID } from 'node:crypto';
import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import type { AuthUser } from '../../common/auth';
import { InjectConfig, type AppConfig } from '../../common/config';
import { commonError } from '../../common/errors/common-errors';
import type { Locale } from '../../common/i18n/locale';
import { AuditLog } from '../../common/logging/audit-log';
import { agentChatError, type AgentChatErrorCode } from './agent-chat.errors';
import type { AgentChatResponseDto } from './dto/agent-chat-response.dto';
import type { AgUiEvent, TokenUsage } from './events/ag-ui-events';
import { AgUiEventMapper, mergeDeltas } from './events/event-mapper';
import { trimHistory } from './history/trim-history';
import { AgentRunner } from './llm/agent-runner';
import { describeModelFailure, ModelFailure } from './llm/model-failure';
import { AgentChatRepository, type NewMessage, type OpenedRun } from './persistence/agent-chat.repository';
import type { RunStatus } from './persistence/chat-run.entity';
import { staleRunAfterMs } from './stale-run-sweeper';
import { AgentToolRegistry } from './tools/tool-registry';
import { ToolExecutor } from './tools/tool-executor';

/** CONTRACT.md "Agent chat" limits that are not environment-tunable. */
export const RUN_LIMITS = { maxModelCalls: 6, maxToolCalls: 8, modelRetries: 1 } as const;

const SYSTEM_PROMPT = [
  'You are the assistant of the Runtime web app.',
  'Use the tools for the current time, for any arithmetic, and for questions about the signed-in user.',
  "Answer briefly, in the user's language.",
].join(' ');

export interface RunResult {
  readonly sessionId: string;
  readonly runId: string;
  readonly status: Exclude<RunStatus, 'running'>;
  /** Set when the run did not succeed. */
  readonly errorCode: AgentChatErrorCode | 'aborted' | 'internal_error' | null;
  readonly output: string;
  readonly events: AgUiEvent[];
}

export interface ExecuteOptions {
  readonly locale: Locale;
  /** Aborted when the client goes away (SSE). */
  readonly clientSignal?: AbortSignal;
  /** Called for each event as it happens, with its 1-based sequence number. */
  readonly emit?: (event: AgUiEvent, seq: number) => void;
  /** The HTTP request's id, for the run's log lines. */
  readonly requestId?: string;
}

class RunTimeout extends Error {}
class ClientGone extends Error {}
class ShuttingDown extends Error {}

@Injectable()
export class AgentChatService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('AgentChat');
  /** Runs in flight in this process, so a shutdown can end them as `aborted` instead of waiting. */
  private readonly active = new Map<string, { controller: AbortController; done: Promise<unknown> }>();

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly repository: AgentChatRepository,
    private readonly runner: AgentRunner,
    private readonly tools: AgentToolRegistry,
    private readonly audit: AuditLog,
  ) {}

  /**
   * SIGTERM: before the HTTP server waits for in-flight requests, abort every run of this process
   * (model calls and tools stop) and let each record itself `aborted`, so shutdown stays within
   * its budget and no run is left `running`.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const runs = [...this.active.values()];
    for (const run of runs) run.controller.abort(new ShuttingDown('server shutting down'));
    await Promise.allSettled(runs.map((run) => run.done));
  }

  /**
   * Everything that can still fail as a plain problem answer: session ownership (404), one run
   * per session (409), storing the user's message. Only after this does a stream start.
   */
  async open(user: AuthUser, message: string, sessionId: string | undefined): Promise<OpenedRun> {
    const model = this.runner.describe();
    return this.repository.openRun({
      userId: user.id,
      sessionId,
      message,
      provider: model.provider,
      model: model.model,
      staleAfterMs: staleRunAfterMs(this.config),
    });
  }

  /** The JSON answer: the whole run, then `{session_id, output, events}` or the failure as a problem. */
  async runToCompletion(
    user: AuthUser,
    message: string,
    sessionId: string | undefined,
    options: Pick<ExecuteOptions, 'locale' | 'clientSignal' | 'requestId'>,
  ): Promise<AgentChatResponseDto> {
    const result = await this.execute(user, await this.open(user, message, sessionId), options);
    // Aborted: the client is gone (nobody reads this) or the server is shutting down (retry elsewhere).
    if (result.errorCode === 'aborted') throw commonError('shutting_down', { retryAfterSeconds: 1 });
    if (result.errorCode === 'internal_error') throw commonError('internal_error');
    if (result.errorCode !== null) throw agentChatError(result.errorCode);
    return { session_id: result.sessionId, output: result.output, events: result.events };
  }

  /** Runs the agent for an opened run and records the outcome. Model failures end in RUN_ERROR, not a throw. */
  execute(user: AuthUser, run: OpenedRun, options: ExecuteOptions): Promise<RunResult> {
    const controller = new AbortController();
    const done = this.executeWith(controller, user, run, options).finally(() => this.active.delete(run.runId));
    this.active.set(run.runId, { controller, done });
    return done;
  }

  private async executeWith(controller: AbortController, user: AuthUser, run: OpenedRun, options: ExecuteOptions): Promise<RunResult> {
    const timer = setTimeout(() => controller.abort(new RunTimeout('run timed out')), this.config.llm.runTimeoutMs);
    const onClientGone = (): void => controller.abort(new ClientGone('client disconnected'));
    options.clientSignal?.addEventListener('abort', onClientGone, { once: true });
    if (options.clientSignal?.aborted) onClientGone();

    const mapper = new AgUiEventMapper(run.runId, run.sessionId);
    const events: AgUiEvent[] = [];
    let firstEventAt: Date | null = null;
    const push = (batch: AgUiEvent[]): void => {
      for (const event of batch) {
        events.push(event);
        if (event.type !== 'RUN_STARTED') firstEventAt ??= new Date();
        options.emit?.(event, events.length);
      }
    };
    const executor = new ToolExecutor(
      { user, runId: run.runId, signal: controller.signal },
      { timeoutMs: this.config.llm.toolTimeoutMs, maxToolCalls: RUN_LIMITS.maxToolCalls },
      this.audit,
    );
    const messages: NewMessage[] = [];
    let usage: TokenUsage | null = null;
    let modelCalls = 0;
    let status: RunResult['status'] = 'succeeded';
    let errorCode: RunResult['errorCode'] = null;

    push(mapper.start());
    let closing: AgUiEvent[];
    try {
      const parts = this.runner.run({
        history: trimHistory(run.history),
        systemPrompt: SYSTEM_PROMPT,
        tools: this.tools.enabled(),
        executor,
        signal: controller.signal,
        modelTimeoutMs: this.config.llm.modelTimeoutMs,
        maxModelCalls: RUN_LIMITS.maxModelCalls,
        modelRetries: RUN_LIMITS.modelRetries,
        // Only a live (SSE) caller sees tokens as they come; the JSON answer gets whole messages.
        streamTokens: options.emit !== undefined,
      });
      for await (const part of parts) {
        if (part.kind === 'model_message') {
          modelCalls++;
          usage = part.usage ? addUsage(usage, part.usage) : usage;
          messages.push({ id: part.message_id, role: 'assistant', content: part.text, toolCalls: part.tool_calls });
        } else if (part.kind === 'tool_result') {
          messages.push({ id: randomUUID(), role: 'tool', content: part.result, toolCallId: part.tool_call_id, toolName: part.tool_name });
        }
        push(mapper.push(part));
      }
      closing = mapper.finish();
    } catch (error) {
      const failure = this.classify(error, controller.signal, runContext(user, run, options));
      ({ status, errorCode } = failure);
      closing = mapper.fail(failure.errorCode, failureDetail(failure.errorCode, options.locale));
    } finally {
      clearTimeout(timer);
      options.clientSignal?.removeEventListener('abort', onClientGone);
      controller.abort(); // stops anything still pending (a timed-out model call, a slow tool)
    }

    // The run's last event goes out only once the run is stored: a client that was told
    // RUN_FINISHED must find the answer in the session, and the session free for the next message.
    const terminal = closing.pop();
    if (terminal === undefined) throw new Error('the event mapper ended the run twice');
    push(closing);
    firstEventAt ??= new Date();
    const stored = mergeDeltas([...events, terminal]);
    try {
      await this.repository.finishRun(run, {
        status,
        errorCode,
        usage,
        modelCalls,
        toolCalls: executor.callCount,
        firstEventAt,
        messages: status === 'succeeded' ? messages : [],
        events: stored,
      });
    } catch (error) {
      return this.unrecorded(run, error, events, push, options, user);
    }
    push([terminal]);
    return { sessionId: run.sessionId, runId: run.runId, status, errorCode, output: mapper.output, events: stored };
  }

  /**
   * The run could not be stored: it ends in RUN_ERROR `internal_error` instead of its own last
   * event, and one attempt marks it failed, so its session takes the next message at once (if
   * that fails too, the stale-run sweep frees it later).
   */
  private async unrecorded(
    run: OpenedRun,
    error: unknown,
    events: AgUiEvent[],
    push: (batch: AgUiEvent[]) => void,
    options: ExecuteOptions,
    user: AuthUser,
  ): Promise<RunResult> {
    const context = runContext(user, run, options);
    this.logger.error({ err: error, ...context, event: 'agent_chat.run_unrecorded' }, 'agent run could not be recorded');
    try {
      await this.repository.failRun(run, 'internal_error');
    } catch (markError) {
      this.logger.error({ err: markError, ...context, event: 'agent_chat.run_unrecorded' }, 'agent run could not be marked failed');
    }
    push([{ type: 'RUN_ERROR', run_id: run.runId, error: failureDetail('internal_error', options.locale), code: 'internal_error' }]);
    return {
      sessionId: run.sessionId,
      runId: run.runId,
      status: 'failed',
      errorCode: 'internal_error',
      output: '',
      events: mergeDeltas(events),
    };
  }

  private classify(
    error: unknown,
    signal: AbortSignal,
    context: RunLogContext,
  ): { status: RunResult['status']; errorCode: NonNullable<RunResult['errorCode']> } {
    if (signal.aborted && (signal.reason instanceof ClientGone || signal.reason instanceof ShuttingDown)) {
      return { status: 'aborted', errorCode: 'aborted' };
    }
    // CONTRACT.md: a model failure, a timeout included, is recorded as failed (error_code tells which).
    if (signal.aborted && signal.reason instanceof RunTimeout) return { status: 'failed', errorCode: 'model_timeout' };
    if (error instanceof ModelFailure) {
      // Not `err`: pino would write the provider's message, the cause's, which can quote the prompt.
      this.logger.warn({ ...context, event: 'agent_chat.run_failed', failure: describeModelFailure(error) }, 'agent run failed');
      return { status: 'failed', errorCode: error.code === 'limit_exceeded' ? 'model_error' : error.code };
    }
    this.logger.error({ err: error, ...context, event: 'agent_chat.run_failed' }, 'agent run failed unexpectedly');
    return { status: 'failed', errorCode: 'internal_error' };
  }
}

interface RunLogContext {
  readonly run_id: string;
  readonly session_id: string;
  readonly user_id: string;
  readonly request_id?: string;
}

/** What ties a run's log lines to its request, its user and the session it belongs to. */
function runContext(user: AuthUser, run: OpenedRun, options: ExecuteOptions): RunLogContext {
  return { run_id: run.runId, session_id: run.sessionId, user_id: user.id, request_id: options.requestId };
}

function failureDetail(code: NonNullable<RunResult['errorCode']>, locale: Locale): string {
  if (code === 'aborted') return locale === 'en' ? 'The run was cancelled.' : '运行已取消。';
  if (code === 'internal_error')
    return locale === 'en' ? 'An unexpected error occurred. Please try again later.' : '服务器内部错误,请稍后重试。';
  return agentChatError(code).spec.detail[locale];
}

function addUsage(a: TokenUsage | null, b: TokenUsage): TokenUsage {
  return {
    input_tokens: (a?.input_tokens ?? 0) + b.input_tokens,
    output_tokens: (a?.output_tokens ?? 0) + b.output_tokens,
    total_tokens: (a?.total_tokens ?? 0) + b.total_tokens,
  };
}
