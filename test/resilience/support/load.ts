export interface Sample {
  readonly name: string;
  readonly startedAt: number;
  readonly ms: number;
  /** HTTP status, or 'timeout' (no answer within the client's bound) or 'error' (connection failed). */
  readonly outcome: number | 'timeout' | 'error';
  readonly code?: string;
  readonly contentType?: string;
}

export type Probe = (signal: AbortSignal) => Promise<Response>;

/** Loads still running: a test that fails before its own `stop()` must not leave them spinning. */
const running = new Set<() => Promise<unknown>>();

// Registered by every test file that imports this module (Jest hooks at module level apply to the
// file). Without it a failed assertion leaves the load loops running, and an in-band Jest run
// never exits.
afterEach(async () => {
  await Promise.all([...running].map((stop) => stop()));
});

/**
 * Runs `probes` round-robin from `concurrency` loops until stopped, recording every outcome. A
 * request that gets no answer within `timeoutMs` is recorded as 'timeout': a hang, never hidden.
 */
export function startLoad(
  probes: Record<string, Probe>,
  concurrency: number,
  timeoutMs = 10_000,
): { samples: Sample[]; stop: () => Promise<Sample[]> } {
  const samples: Sample[] = [];
  const names = Object.keys(probes);
  let active = true;
  let turn = 0;
  const loop = async (): Promise<void> => {
    while (active) {
      const name = names[turn++ % names.length]!;
      const startedAt = Date.now();
      try {
        const res = await probes[name]!(AbortSignal.timeout(timeoutMs));
        const contentType = res.headers.get('content-type') ?? '';
        const text = await res.text();
        let code: string | undefined;
        if (contentType.includes('json') && text) code = (JSON.parse(text) as { code?: string }).code;
        samples.push({ name, startedAt, ms: Date.now() - startedAt, outcome: res.status, code, contentType });
      } catch (error) {
        const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
        samples.push({ name, startedAt, ms: Date.now() - startedAt, outcome: timedOut ? 'timeout' : 'error' });
        if (!timedOut) await new Promise((r) => setTimeout(r, 20)); // a refused connection: don't spin
      }
    }
  };
  const loops = Array.from({ length: concurrency }, () => loop());
  const stop = async (): Promise<Sample[]> => {
    active = false;
    running.delete(stop);
    await Promise.all(loops);
    return samples;
  };
  running.add(stop);
  return { samples, stop };
}

/** Counts of outcomes per probe, for readable assertion failures. */
export function summarize(samples: readonly Sample[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const s of samples) {
    const key = `${s.outcome}${s.code ? ` ${s.code}` : ''}`;
    const row = (out[s.name] ??= {});
    row[key] = (row[key] ?? 0) + 1;
  }
  return out;
}
