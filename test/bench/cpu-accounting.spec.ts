import { Worker } from 'node:worker_threads';
import { Client } from 'pg';
import { cpuBetween, cpuSnapshot, type CpuSnapshot } from '../../bench/lib/cpu-accounting';

const spin = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

/** This process stands in for the server; PostgreSQL is the real local one, found by name. */
describe('bench CPU accounting: where a scenario’s CPU went', () => {
  const subjects = { serverPid: process.pid, loadGeneratorPid: -1 };
  const snapshot = (): CpuSnapshot => {
    const s = cpuSnapshot(subjects);
    if (!s) throw new Error('no /proc schedstat on this machine');
    return s;
  };

  it('charges the main thread’s work to the main thread and a worker’s to the other threads', async () => {
    const before = snapshot();
    spin(150);
    // The worker stays alive until it is read: a thread gone by then is not counted.
    const worker = new Worker(
      `const u = performance.now() + 300; while (performance.now() < u); require('node:worker_threads').parentPort.postMessage('done');`,
      { eval: true },
    );
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    const used = cpuBetween(before, snapshot());
    await worker.terminate();

    expect(used.serverMain).toBeGreaterThanOrEqual(140);
    expect(used.serverMain).toBeLessThan(280); // the worker's 300 ms are not the main thread's
    expect(used.serverThreads).toBeGreaterThanOrEqual(280);
    expect(used.postgres + used.redis + used.loadGenerator).toBeLessThan(100);
    // The machine's count (10 ms ticks, every core) covers at least most of what the threads used.
    expect(used.machine).toBeGreaterThan(0.5 * (used.serverMain + used.serverThreads));
  });

  it('charges a query’s work to PostgreSQL, not to the process that asked', async () => {
    const client = new Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      const before = snapshot();
      const started = performance.now();
      await client.query('SELECT sum(x) FROM generate_series(1, 3000000) AS x');
      const elapsed = performance.now() - started;
      const used = cpuBetween(before, snapshot());

      expect(used.postgres).toBeGreaterThan(0.5 * elapsed);
      expect(used.serverMain).toBeLessThan(0.5 * elapsed);
    } finally {
      await client.end();
    }
  });
});
