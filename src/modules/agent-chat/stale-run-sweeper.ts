import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectConfig, type AppConfig } from '../../common/config';
import { PeriodicTask } from '../../common/scheduling/periodic-task';
import { AgentChatRepository } from './persistence/agent-chat.repository';

/**
 * How often each replica tries a sweep (one at a time does it: an advisory lock). A provider of
 * its own so tests can shorten it (`overrideProvider(STALE_RUN_SWEEP_INTERVAL_MS)`).
 */
export const STALE_RUN_SWEEP_INTERVAL_MS = Symbol('STALE_RUN_SWEEP_INTERVAL_MS');
/** Once a minute: a run left `running` is failed at most a minute after it went stale. */
export const DEFAULT_STALE_RUN_SWEEP_INTERVAL_MS = 60_000;

/**
 * A run cannot outlive its timeout in a live process (it is aborted and recorded), so one still
 * `running` well after it belongs to a process that died.
 */
export function staleRunAfterMs(config: AppConfig): number {
  return config.llm.runTimeoutMs + 30_000;
}

/**
 * Marks runs a dead process left `running` as failed (`interrupted`): at start-up, then every
 * interval, so a process that crashed and came back within seconds (whose runs were not stale yet at
 * its start-up) leaves none behind, whether or not their owners write in those sessions again.
 * Opening a run also sweeps a stale run of its own session (agent_chat_open_run), at once.
 */
@Injectable()
export class StaleRunSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AgentChat');
  private task: PeriodicTask | undefined;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly repository: AgentChatRepository,
    @Inject(STALE_RUN_SWEEP_INTERVAL_MS) private readonly intervalMs: number,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.sweep();
    } catch (error) {
      // Start-up must not depend on this sweep: the periodic one tries again.
      this.logger.warn({ err: error, event: 'agent_chat.stale_run_sweep_failed' }, 'could not sweep interrupted agent runs');
    }
    this.task ??= new PeriodicTask(
      () => this.sweep(),
      this.intervalMs,
      (error) => this.logger.warn({ err: error, event: 'agent_chat.stale_run_sweep_failed' }, 'could not sweep interrupted agent runs'),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task?.stop();
  }

  /** One sweep: how many runs it failed, or `null` when another replica is sweeping. */
  async sweep(): Promise<number | null> {
    const count = await this.repository.failStaleRuns(staleRunAfterMs(this.config));
    if (count) this.logger.warn({ event: 'agent_chat.stale_runs_failed', count }, `marked ${count} interrupted agent run(s) as failed`);
    return count;
  }
}
