import { Worker } from 'node:worker_threads';
import { Logger } from '@nestjs/common';
import type { Options } from '@node-rs/argon2';

/**
 * The code each thread runs: argon2's synchronous calls, one task after another, straight from
 * the thread's own message queue. Evaluated from source so that the same file serves ts-node,
 * the compiled build and the bundle; `@node-rs/argon2` is passed in resolved from this module.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { hashSync, verifySync } = require(workerData.argon2);
parentPort.on('message', (task) => {
  try {
    const value = task.op === 'hash' ? hashSync(task.password, task.options) : verifySync(task.hash, task.password);
    parentPort.postMessage({ id: task.id, value });
  } catch (error) {
    parentPort.postMessage({ id: task.id, error: String(error && error.message ? error.message : error) });
  }
});
`;

type Task = { op: 'hash'; password: string; options: Options } | { op: 'verify'; hash: string; password: string };
type Reply = { id: number; value?: string | boolean; error?: string };

interface Pending {
  resolve(value: string | boolean): void;
  reject(error: Error): void;
}

/** argon2 refused the task's input (a malformed stored hash, say). */
export class HashTaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HashTaskError';
  }
}

/** The thread holding the task died before answering: nothing is known of the task's result. */
export class HashThreadDied extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HashThreadDied';
  }
}

class HashThread {
  readonly pending = new Map<number, Pending>();
  private readonly worker: Worker;
  private dead = false;
  private nextId = 0;

  constructor(argon2Path: string, onDeath: (thread: HashThread, reason: string, failedTasks: number) => void) {
    this.worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { argon2: argon2Path },
      // Not the parent's flags: under ts-node they would load the TypeScript compiler into every thread.
      execArgv: [],
      // argon2's 19 MiB per hash is native memory; the thread's own JS heap stays tiny.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
      stdout: false,
      stderr: false,
    });
    // An idle thread never keeps the process alive; one with work does (see submit).
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.settle(reply));
    const die = (reason: string): void => {
      if (this.dead) return;
      this.dead = true;
      this.worker.unref();
      const failed = this.pending.size;
      for (const task of this.pending.values()) task.reject(new HashThreadDied(reason));
      this.pending.clear();
      onDeath(this, reason, failed);
    };
    this.worker.on('error', (error) => die(`hash thread failed: ${error.message}`));
    this.worker.on('exit', (code) => die(`hash thread exited with code ${code}`));
  }

  submit(task: Task): Promise<string | boolean> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...task, id });
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private settle(reply: Reply): void {
    const task = this.pending.get(reply.id);
    if (!task) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.error !== undefined) task.reject(new HashTaskError(reply.error));
    else task.resolve(reply.value!);
  }
}

/**
 * argon2 on threads of our own rather than on libuv's pool. Each thread takes its next task from
 * its own queue the moment the last one ends; on libuv's pool, with the number of hashes at once
 * capped in JavaScript (it must be: the pool is shared with DNS and file work), the next hash
 * could only start once the busy event loop had handled the previous completion, leaving a core
 * idle each time (logins/s 15 % higher on threads in six alternating pairs on the 2-core bench
 * machine, bench/results.md "Session 14"). Hand-written because
 * the pooling libraries (piscina, workerpool) bring far more than these few lines of dispatch.
 *
 * Threads start on first use; a thread that dies fails its own tasks ({@link HashThreadDied})
 * and is replaced by the next task.
 */
export class HashThreads {
  private readonly logger = new Logger('HashThreads');
  private threads: HashThread[] = [];
  private closing = false;

  constructor(private readonly size: number) {}

  hash(password: string, options: Options): Promise<string> {
    return this.least().submit({ op: 'hash', password, options }) as Promise<string>;
  }

  verify(hash: string, password: string): Promise<boolean> {
    return this.least().submit({ op: 'verify', hash, password }) as Promise<boolean>;
  }

  /** Tasks handed to a thread and not yet answered. */
  get inFlight(): number {
    return this.threads.reduce((sum, thread) => sum + thread.pending.size, 0);
  }

  /** Stops every thread; tasks in flight fail with {@link HashThreadDied}. The next task starts new ones. */
  async close(): Promise<void> {
    const threads = this.threads;
    this.threads = [];
    this.closing = true;
    try {
      await Promise.all(threads.map((thread) => thread.terminate()));
    } finally {
      this.closing = false;
    }
  }

  /** The thread with the fewest tasks queued, started if there are fewer than `size`. */
  private least(): HashThread {
    if (this.threads.length < this.size) {
      const thread = new HashThread(require.resolve('@node-rs/argon2'), (dead, reason, failedTasks) => {
        this.threads = this.threads.filter((t) => t !== dead);
        if (!this.closing) {
          this.logger.error(
            { event: 'auth.hash_thread_died', reason, failed_tasks: failedTasks },
            `${reason}; ${failedTasks} task(s) failed, the next task starts a new thread`,
          );
        }
      });
      this.threads.push(thread);
      return thread;
    }
    return this.threads.reduce((best, thread) => (thread.pending.size < best.pending.size ? thread : best));
  }
}
