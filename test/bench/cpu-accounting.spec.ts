import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Client } from 'pg';
import { cpuBetween, cpuSnapshot, type CpuSnapshot } from '../../bench/lib/cpu-accounting';

/** The calling thread's time on a CPU so far, in ns: a busy machine (other test files run beside this one) cannot shorten a spin on it. */
const onCpuNs = (): number => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);

const spin = (ms: number): void => {
  const until = onCpuNs() + ms * 1e6;
  while (onCpuNs() < until);
};

/**
 * A longer spin, 600 ms, in a worker thread that then says it is done, and stays (listening) until
 * it is terminated: a thread that ended before the snapshot would no longer be listed, and its
 * time with it (on a busy machine the snapshot can come late).
 */
const WORKER_SPIN = `
const { readFileSync } = require('node:fs');
const { parentPort } = require('node:worker_threads');
const onCpuNs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
const until = onCpuNs() + 600e6;
while (onCpuNs() < until);
parentPort.on('message', () => undefined);
parentPort.postMessage('done');
`;

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
    const worker = new Worker(WORKER_SPIN, { eval: true });
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    const used = cpuBetween(before, snapshot());
    await worker.terminate();

    expect(used.serverMain).toBeGreaterThanOrEqual(150);
    // The worker's 600 ms are not the main thread's: charged to it, they would make it 750 ms and
    // more. (The main thread also starts the worker and runs Jest: up to 400 ms of it seen on a
    // busy machine, so the bound is the worker's time rather than anything tighter.)
    expect(used.serverMain).toBeLessThan(600);
    expect(used.serverThreads).toBeGreaterThanOrEqual(600);
    // The machine's count (10 ms ticks, every core) covers at least most of what the threads used.
    expect(used.machine).toBeGreaterThan(0.5 * (used.serverMain + used.serverThreads));
  });

  it('charges a query’s work to PostgreSQL, not to the process that asked', async () => {
    const client = new Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      const before = snapshot();
      await client.query('SELECT sum(x) FROM generate_series(1, 1000000) AS x');
      const used = cpuBetween(before, snapshot());

      // A million rows take PostgreSQL tens of milliseconds; asking and waiting takes this process far less.
      expect(used.postgres).toBeGreaterThan(30);
      expect(used.serverMain).toBeLessThan(used.postgres / 2);
    } finally {
      await client.end();
    }
  });
});
