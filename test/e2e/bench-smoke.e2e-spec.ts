import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRODUCTION_NODE_OPTIONS } from '../../bench/lib/production-settings';
import { FINDINGS_MARKER, writeReports } from '../../bench/lib/report';
import type { BenchResults } from '../../bench/lib/results';

const ROOT = join(__dirname, '../..');

/**
 * The benchmark runner must not rot: a tiny run (1 s per scenario, a few scenarios, the server
 * from sources) completes and writes its three outputs. Timings are not asserted: they belong in
 * bench/results.md, not in tests.
 */
describe('bench runner (smoke)', () => {
  let outDir: string;
  beforeAll(() => (outDir = mkdtempSync(join(tmpdir(), 'rt-bench-smoke-'))));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('runs the smoke set end to end and writes results.md, results.json and results.svg', async () => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bench/run.ts', '--smoke', '--out', outDir], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });

    const results = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as BenchResults;
    expect(results.rounds).toHaveLength(1);
    expect(results.rounds[0]!.scenarios.map((s) => s.name)).toEqual(['baseline', 'health', 'users-me', 'login']);
    for (const s of results.rounds[0]!.scenarios) {
      expect(s.requests).toBeGreaterThan(0);
      expect(s.errors).toBe(0);
    }
    // Each scenario's ratio is against the baseline measured beside it, not the round's first one…
    const [baseline, health] = results.rounds[0]!.scenarios;
    expect(baseline!.pairedBaselineRequestsPerSecond).toBe(baseline!.requestsPerSecond);
    expect(health!.pairedBaselineRequestsPerSecond).toBeGreaterThan(0);
    expect(health!.pairedBaselineRequestsPerSecond).not.toBe(baseline!.requestsPerSecond);
    expect(health!.ratioToBaseline).toBeCloseTo(health!.requestsPerSecond / health!.pairedBaselineRequestsPerSecond!, 9);
    // …measured in slices alternating with the scenario's own, by the same load generator.
    expect(baseline!.slices).toBeUndefined();
    expect(health!.slices?.length).toBeGreaterThanOrEqual(1);
    for (const slice of health!.slices ?? []) {
      expect(slice.requestsPerSecond).toBeGreaterThan(0);
      expect(slice.pairedRequestsPerSecond).toBeGreaterThan(0);
    }
    // Where the CPU went: the server's main thread, the load generator, the machine as a whole.
    expect(health!.cpuMsPerRequest?.serverMain).toBeGreaterThan(0);
    expect(health!.cpuMsPerRequest?.loadGenerator).toBeGreaterThan(0);
    expect(health!.cpuMsPerRequest?.machine).toBeGreaterThan(0);
    expect(results.coldStartMs.samples).toHaveLength(1);
    expect(results.argon2VerifyPerSecond).toBeGreaterThan(0);
    // Login is compared with the raw argon2 rate measured next to it.
    expect(results.rounds[0]!.scenarios.find((s) => s.name === 'login')?.pairedArgon2VerifyPerSecond).toBeGreaterThan(0);
    expect(results.eventLoop?.healthP99Ms).toBeGreaterThanOrEqual(0);
    expect(results.versions).toEqual(
      expect.objectContaining({ node: process.version, nest: expect.any(String), fastify: expect.any(String) }),
    );
    expect(results.targets.length).toBeGreaterThan(5);

    const md = readFileSync(join(outDir, 'results.md'), 'utf8');
    expect(md).toContain('## Targets');
    expect(md).toContain('SMOKE RUN');
    expect(md).toContain('| scenario | server main thread | server other threads | PostgreSQL | Redis | load generator |');
    expect(readFileSync(join(outDir, 'results.svg'), 'utf8')).toMatch(/^<svg /);
    expect(output).toContain('round 1');
  }, 120_000);

  it('measures with the V8 flags production runs with (image, Kubernetes deployment, bench)', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const deployment = readFileSync(join(ROOT, 'deploy/k8s/deployment.yaml'), 'utf8');
    expect(dockerfile).toContain(`NODE_OPTIONS="${PRODUCTION_NODE_OPTIONS}"`);
    expect(deployment).toMatch(
      new RegExp(`name: NODE_OPTIONS\\n\\s+value: ${PRODUCTION_NODE_OPTIONS.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`),
    );
    expect(readFileSync(join(ROOT, 'bench/run.ts'), 'utf8')).toContain('NODE_OPTIONS: PRODUCTION_NODE_OPTIONS');
  });

  it('keeps the findings below the marker as they are when it rewrites results.md', () => {
    const results = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as BenchResults;
    const mdPath = join(outDir, 'results.md');
    appendFileSync(mdPath, '\n### Hand-written\n\nA finding.\n');
    const findingsOf = (): string => readFileSync(mdPath, 'utf8').split(FINDINGS_MARKER)[1]!;
    writeReports(outDir, results);
    const once = findingsOf();
    expect(once).toContain('### Hand-written\n\nA finding.\n');
    writeReports(outDir, results);
    writeReports(outDir, results);
    expect(findingsOf()).toBe(once); // nothing added, nothing lost, however often it is rewritten
  });
});
