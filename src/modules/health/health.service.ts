import { InjectRedis } from '@nestjs-modules/ioredis';
import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import type Redis from 'ioredis';
import { assertRedisConnected } from '../../common/redis/redis-availability';
import { DataSource } from 'typeorm';
import type { ReadinessDto, ServiceHealthDto } from './dto/health.dto';

/** Each dependency check is bounded, so readiness answers within ~1 s even when one hangs. */
export const CHECK_TIMEOUT_MS = 1000;

@Injectable()
export class HealthService {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @InjectRedis() private readonly redis: Redis,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async readiness(): Promise<ReadinessDto> {
    const [redis, postgres] = await Promise.all([
      this.probe('redis', async () => {
        assertRedisConnected(this.redis); // lost: unhealthy at once, not after the check's timeout
        return this.redis.ping();
      }),
      this.probe('postgres', () => this.dataSource.query('SELECT 1')),
    ]);
    const healthy = redis.status === 'healthy' && postgres.status === 'healthy';
    return { status: healthy ? 'healthy' : 'unhealthy', services: { redis, postgres } };
  }

  private async probe(key: string, check: () => Promise<unknown>): Promise<ServiceHealthDto> {
    const indicator = this.indicators.check(key);
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${key} check timed out`)), CHECK_TIMEOUT_MS);
    });
    try {
      await Promise.race([check(), timeout]);
      const result = indicator.up({ latency_ms: elapsed(started) });
      return { status: 'healthy', latency_ms: result[key]?.latency_ms ?? elapsed(started) };
    } catch {
      indicator.down({ latency_ms: elapsed(started) });
      return { status: 'unhealthy', latency_ms: elapsed(started) };
    } finally {
      clearTimeout(timer);
    }
  }
}

const elapsed = (started: number): number => Math.round((performance.now() - started) * 100) / 100;
