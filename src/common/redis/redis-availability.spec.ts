import Redis from 'ioredis';
import { createServer } from 'node:net';
import { loadConfigFromProcessEnv } from '../config/app-config';
import { isDependencyOutage } from '../errors/problem';
import { assertRedisConnected, RedisUnavailableError } from './redis-availability';

/** A port nothing listens on: taken from the OS, then closed. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('assertRedisConnected (real ioredis clients)', () => {
  const redisUrl = loadConfigFromProcessEnv().redis.url; // this run's Redis (test/setup)
  const clients: Redis[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) {
      if (c.status === 'ready') await c.quit();
      else if (c.status !== 'end') c.disconnect();
    }
  });

  it('passes a connected client, and one still making its first connection (commands queue then)', async () => {
    const client = new Redis(redisUrl, { lazyConnect: false });
    clients.push(client);
    expect(client.status).toBe('connecting');
    expect(() => assertRedisConnected(client)).not.toThrow();
    await until(() => client.status === 'ready');
    expect(() => assertRedisConnected(client)).not.toThrow();
    expect(await client.ping()).toBe('PONG');
  });

  it('throws a dependency outage, at once, while the client waits to reconnect', async () => {
    const client = new Redis({
      port: await deadPort(),
      host: '127.0.0.1',
      retryStrategy: () => 60_000,
      // Its socket is already closed: ioredis would otherwise wait 2 s on it when disconnecting.
      disconnectTimeout: 10,
    });
    client.on('error', () => undefined);
    clients.push(client);
    await until(() => client.status === 'reconnecting');
    let thrown: unknown;
    try {
      assertRedisConnected(client);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RedisUnavailableError);
    expect((thrown as Error).message).toBe('Redis connection lost (client reconnecting)');
    expect(isDependencyOutage(thrown)).toBe(true);
  });

  it('throws once the client has been closed (shutdown)', async () => {
    const client = new Redis(redisUrl);
    clients.push(client);
    await client.ping();
    await client.quit();
    await until(() => client.status === 'end');
    expect(() => assertRedisConnected(client)).toThrow(new RedisUnavailableError('Redis connection lost (client end)'));
  });
});
