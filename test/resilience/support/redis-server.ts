import { spawn, type ChildProcess } from 'node:child_process';
import Redis from 'ioredis';
import { eventually } from '../../e2e/support/http';
import { freePort } from '../../e2e/support/server-process';

/**
 * A throwaway `redis-server` on its own port (never the machine's shared 6379), so a test can
 * stop and restart it under load. No persistence: a restart starts empty, as a failed-over
 * replica without the data would.
 */
export class ThrowawayRedis {
  private child: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
      {
        stdio: 'ignore',
      },
    );
    this.child = child;
    await eventually(() => this.ping(), 10_000, 50);
  }

  /** Stops it hard (SIGKILL): connections drop without goodbye, like a crashed node. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  async ping(): Promise<boolean> {
    const client = new Redis(this.url, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }
}
