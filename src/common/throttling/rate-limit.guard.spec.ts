import { Controller, Get, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { SkipThrottle, Throttle, ThrottlerGuard, type ThrottlerModuleOptions, type ThrottlerStorage } from '@nestjs/throttler';
import { RateLimit } from './rate-limit.decorator';
import { RedisThrottlerGuard } from './rate-limit.guard';

/** One budget for two routes, as signup and resend share one. */
const PAIR = { bucket: 'pair', limit: 2, windowSeconds: 10 };

@Controller()
class ProbeController {
  @Get()
  plain(): void {}

  @Get()
  plainToo(): void {}

  @RateLimit(PAIR)
  @Get()
  limited(): void {}

  @RateLimit(PAIR)
  @Get()
  limitedToo(): void {}

  @RateLimit({
    bucket: 'per-user',
    limit: 5,
    windowSeconds: 60,
    tracker: (req: Record<string, unknown>) => Promise.resolve(`user-${String(req.user)}`),
  })
  @Get()
  perUser(): void {}

  @Throttle({
    default: { limit: (context: ExecutionContext) => (context.getHandler().name === 'computed' ? 7 : 0), ttl: 3000, blockDuration: 9000 },
  })
  @Get()
  computed(): void {}

  @SkipThrottle()
  @Get()
  skipped(): void {}
}

@SkipThrottle()
@Controller()
class SkippedController {
  @Get()
  any(): void {}
}

/** Counts like Redis would; records every call. */
class CountingStorage implements ThrottlerStorage {
  readonly calls: unknown[][] = [];
  private readonly hits = new Map<string, number>();

  increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string) {
    this.calls.push([key, ttl, limit, blockDuration, throttlerName]);
    const totalHits = (this.hits.get(key) ?? 0) + 1;
    this.hits.set(key, totalHits);
    return Promise.resolve({ totalHits, timeToExpire: 5, isBlocked: totalHits > limit, timeToBlockExpire: totalHits > limit ? 5 : 0 });
  }
}

const OPTIONS: ThrottlerModuleOptions = { throttlers: [{ name: 'default', ttl: 60_000, limit: 300 }] };

/** The library's own canActivate, with our tracker, keys and error: what ours must decide exactly as. */
class LibraryGuard extends RedisThrottlerGuard {
  override canActivate(context: ExecutionContext): Promise<boolean> {
    return ThrottlerGuard.prototype.canActivate.call(this, context);
  }
}

interface Outcome {
  readonly status: 'allowed' | 'refused';
  readonly headers: Record<string, unknown>;
}

async function drive(guard: ThrottlerGuard, requests: [object, string, string][]): Promise<Outcome[]> {
  await guard.onModuleInit();
  const out: Outcome[] = [];
  for (const [controller, handler, ip] of requests) {
    const headers: Record<string, unknown> = {};
    const res = { header: (name: string, value: unknown) => (headers[name] = value) };
    const req = { ip, raw: { socket: { remoteAddress: ip } }, user: ip.slice(-1), headers: {} };
    const cls = controller as new () => object;
    const context = new ExecutionContextHost([req, res], cls, (cls.prototype as Record<string, () => void>)[handler]);
    context.setType('http');
    try {
      await guard.canActivate(context);
      out.push({ status: 'allowed', headers });
    } catch {
      out.push({ status: 'refused', headers });
    }
  }
  return out;
}

describe('RedisThrottlerGuard', () => {
  const requests: [object, string, string][] = [
    [ProbeController, 'plain', '10.0.0.1'],
    [ProbeController, 'limited', '10.0.0.1'],
    [ProbeController, 'limitedToo', '10.0.0.1'], // the same bucket: its second request
    [ProbeController, 'limited', '10.0.0.1'], // the third within 2: refused
    [ProbeController, 'limited', '10.0.0.2'],
    [ProbeController, 'perUser', '10.0.0.3'],
    [ProbeController, 'perUser', '10.0.0.4'],
    [ProbeController, 'computed', '10.0.0.1'],
    [ProbeController, 'skipped', '10.0.0.1'],
    [SkippedController, 'any', '10.0.0.1'],
    [ProbeController, 'plainToo', '10.0.0.1'], // every route without a limit of its own: one budget
  ];

  it('decides, counts and keys every request exactly as the library guard it replaces', async () => {
    const ours = new CountingStorage();
    const library = new CountingStorage();
    const reflector = new Reflector();
    const oursOut = await drive(new RedisThrottlerGuard(OPTIONS, ours, reflector), requests);
    const libraryOut = await drive(new LibraryGuard(OPTIONS, library, reflector), requests);
    expect(oursOut).toEqual(libraryOut);
    expect(ours.calls).toEqual(library.calls);
    // And what that is: the route's own limit and window, a tracker of its own, a computed limit
    // with its block duration, nothing counted for skipped routes.
    expect(oursOut.map((o) => o.status)).toEqual([
      'allowed',
      'allowed',
      'allowed',
      'refused',
      'allowed',
      'allowed',
      'allowed',
      'allowed',
      'allowed',
      'allowed',
      'allowed',
    ]);
    expect(ours.calls).toEqual([
      ['rate:default:10.0.0.1', 60_000, 300, 60_000, 'default'],
      ['rate:pair:10.0.0.1', 10_000, 2, 10_000, 'default'],
      ['rate:pair:10.0.0.1', 10_000, 2, 10_000, 'default'],
      ['rate:pair:10.0.0.1', 10_000, 2, 10_000, 'default'],
      ['rate:pair:10.0.0.2', 10_000, 2, 10_000, 'default'],
      ['rate:per-user:user-3', 60_000, 5, 60_000, 'default'],
      ['rate:per-user:user-4', 60_000, 5, 60_000, 'default'],
      // A limit set with the library's @Throttle and no bucket counts on its own.
      ['rate:ProbeController.computed:10.0.0.1', 3000, 7, 9000, 'default'],
      ['rate:default:10.0.0.1', 60_000, 300, 60_000, 'default'],
    ]);
  });

  it("reads a route's decorators once, not on every request", async () => {
    const reflector = new Reflector();
    const read = jest.spyOn(reflector, 'getAllAndOverride');
    const repeat = Array.from({ length: 5 }, (): [object, string, string] => [ProbeController, 'limited', '10.0.0.9']);
    await drive(new RedisThrottlerGuard(OPTIONS, new CountingStorage(), reflector), repeat);
    const once = read.mock.calls.length;
    expect(once).toBeGreaterThan(0);
    await drive(new RedisThrottlerGuard(OPTIONS, new CountingStorage(), reflector), [...repeat, ...repeat]);
    expect(read.mock.calls.length).toBe(2 * once); // a new guard reads again, once; more requests read nothing more
  });
});
