import { InjectRedis, RedisModule as IoRedisModule } from '@nestjs-modules/ioredis';
import { Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config';

/**
 * The shared ioredis client (`@InjectRedis()`). Tuned to fail fast rather than queue: a command
 * gives up after 1 s and one retry, so a Redis outage becomes a quick 503, never a hang, and the
 * client keeps reconnecting in the background. Between reconnection attempts the request paths
 * refuse at once, before queueing anything (`assertRedisConnected`).
 */
@Module({
  imports: [
    IoRedisModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        type: 'single',
        url: config.redis.url,
        options: {
          keyPrefix: config.redis.keyPrefix,
          lazyConnect: false,
          // Commands issued in one event-loop turn (by every request in flight) go out in one
          // write. On this platform a socket write costs more than the command itself.
          enableAutoPipelining: true,
          connectTimeout: 1000,
          commandTimeout: 1000,
          maxRetriesPerRequest: 1,
          enableOfflineQueue: true,
          retryStrategy: (times: number) => Math.min(times * 100, 1000),
        },
      }),
    }),
  ],
})
export class RedisModule implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');

  /**
   * Without an `error` listener ioredis prints every failed connection attempt to stderr, two
   * unstructured lines each, several a second while Redis is down. One structured warning when the
   * connection is lost, one line when it is back; the requests' own 503s say the rest.
   */
  constructor(@InjectRedis() private readonly redis: Redis) {
    let lost = false;
    redis.on('error', (error: Error) => {
      if (lost) return;
      lost = true;
      this.logger.warn({ event: 'redis.connection_lost', err: error }, 'Redis connection failed; reconnecting in the background');
    });
    redis.on('ready', () => {
      if (!lost) return;
      lost = false;
      this.logger.log({ event: 'redis.connection_restored' }, 'Redis connection restored');
    });
  }

  /**
   * Closes our client ourselves: @nestjs-modules/ioredis tracks connections in a static set that
   * the first app to shut down clears, so with several apps in one process (tests, replicas in a
   * test) later clients were never closed. A graceful QUIT, cut short when Redis does not answer.
   */
  async onApplicationShutdown(): Promise<void> {
    if (this.redis.status === 'end') return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)));
    await Promise.race([
      this.redis.quit().then(
        () => undefined,
        () => undefined,
      ),
      timeout,
    ]);
    clearTimeout(timer);
    this.redis.disconnect();
  }
}
