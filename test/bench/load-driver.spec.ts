import { spawn, type ChildProcess } from 'node:child_process';
import { driveLoad } from '../../bench/lib/load';
import { cpuSeconds } from '../../bench/lib/processes';

/**
 * One process serves both loads, as the baseline's server serves the I/O floor beside the bare
 * baseline: `/busy` spins the CPU for every request, `/idle` answers after a timer and costs
 * next to nothing. Measuring `/idle` paired with `/busy`, the driver must count the process's CPU
 * over `/idle`'s own slices only; counting the whole run would charge it the paired slices' work.
 */
const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.url === '/busy') {
    const until = process.hrtime.bigint() + 2_000_000n;
    while (process.hrtime.bigint() < until);
    res.end('busy');
  } else {
    setTimeout(() => res.end('idle'), 20);
  }
});
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
`;

describe('load driver: server CPU of a paired measurement', () => {
  let server: ChildProcess;
  let url: string;

  beforeAll(async () => {
    server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('message', (m) => resolve(m as number));
      server.once('exit', (code) => reject(new Error(`test server exited with ${code}`)));
    });
    url = `http://127.0.0.1:${port}`;
  });

  afterAll(() => {
    server.kill();
  });

  it('counts only the warm-up and the spec’s own slices, not the paired load on the same process', async () => {
    const before = cpuSeconds(server.pid)!;
    const result = await driveLoad({
      url: `${url}/idle`,
      connections: 2,
      warmupSeconds: 0,
      durationSeconds: 2,
      slices: 2,
      plans: [{ requests: [{ method: 'GET', path: '/idle' }] }],
      ipBlock: 1,
      cpuPid: server.pid,
      pairedWith: {
        url: `${url}/busy`,
        connections: 2,
        plans: [{ requests: [{ method: 'GET', path: '/busy' }] }],
        ipBlock: 2,
        warmupSeconds: 0,
      },
    });
    const total = cpuSeconds(server.pid)! - before;

    expect(result.errors).toBe(0);
    expect(result.requests).toBeGreaterThan(0);
    expect(result.pairedRequestsPerSecond).toBeGreaterThan(0);
    // The paired slices (2 × 1 s of spinning) kept the process busy…
    expect(total).toBeGreaterThan(0.5);
    // …and none of that is the measured load's: its own slices cost it a few timers per request.
    expect(result.serverCpuSeconds).toBeDefined();
    expect(result.serverCpuSeconds!).toBeLessThan(0.25 * total);
    // So is its breakdown by process (in ms), which also counts the load generator's own work.
    expect(result.cpuMs).toBeDefined();
    expect(result.cpuMs!.serverMain + result.cpuMs!.serverThreads).toBeLessThan(0.25 * total * 1000);
    expect(result.cpuMs!.loadGenerator).toBeGreaterThan(0);
  }, 30_000);
});
