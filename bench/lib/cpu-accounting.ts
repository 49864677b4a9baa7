import { readdirSync, readFileSync } from 'node:fs';

/**
 * Where a scenario's CPU went, in milliseconds: the measured server's main thread and its other
 * threads (argon2's hash threads, V8's GC helper, libuv's pool), PostgreSQL (every process
 * named `postgres`), Redis, the load generator, and the machine as a whole (every core's busy
 * time, whoever used it). On a 2-core machine all of them share the cores a scenario's rate
 * depends on, so a route's cost is more than its server's own time.
 *
 * Threads are read from the scheduler's own count of time on a CPU (`/proc/<pid>/task/<tid>/schedstat`,
 * nanoseconds), exact for the many PostgreSQL backends that each run in short bursts: utime and
 * stime are sampled at timer ticks on this machine's kernel (tick-based accounting), which only
 * averages out over a busy process's many ticks. The machine's total comes from /proc/stat (ticks
 * of 10 ms), good over a scenario's seconds. Linux only: elsewhere every reading is undefined.
 */
export interface CpuBreakdown {
  readonly serverMain: number;
  readonly serverThreads: number;
  readonly postgres: number;
  readonly redis: number;
  readonly loadGenerator: number;
  readonly machine: number;
}

export type CpuGroup = Exclude<keyof CpuBreakdown, 'machine'>;

export const CPU_GROUPS: readonly CpuGroup[] = ['serverMain', 'serverThreads', 'postgres', 'redis', 'loadGenerator'];

export interface CpuSnapshot {
  /** On-CPU nanoseconds per thread, keyed `<group> <pid>/<tid>`. */
  readonly threads: ReadonlyMap<string, number>;
  /** Busy milliseconds of all CPUs together since boot. */
  readonly machineMs: number;
}

/** The processes to tell apart; PostgreSQL's and Redis's are found by name. */
export interface CpuSubjects {
  readonly serverPid: number;
  readonly loadGeneratorPid: number;
}

const USER_HZ = 100;

function groupOf(pid: number, tid: number, comm: string, subjects: CpuSubjects): CpuGroup | undefined {
  if (pid === subjects.serverPid) return tid === pid ? 'serverMain' : 'serverThreads';
  if (pid === subjects.loadGeneratorPid) return 'loadGenerator';
  if (comm === 'postgres') return 'postgres';
  if (comm.startsWith('redis-server')) return 'redis';
  return undefined;
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process or thread ended while we looked
  }
};

/** A reading of every thread of interest; undefined where /proc has no schedstat (not Linux). */
export function cpuSnapshot(subjects: CpuSubjects): CpuSnapshot | undefined {
  const stat = read('/proc/stat');
  if (stat === undefined || read(`/proc/${subjects.serverPid}/schedstat`) === undefined) return undefined;
  const threads = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const comm = read(`/proc/${pid}/comm`)?.trim();
    const processGroup = comm === undefined ? undefined : groupOf(pid, -1, comm, subjects);
    if (processGroup === undefined) continue;
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const ns = read(`/proc/${pid}/task/${tid}/schedstat`)?.split(' ')[0];
      if (ns === undefined) continue;
      threads.set(`${groupOf(pid, Number(tid), comm!, subjects)} ${pid}/${tid}`, Number(ns));
    }
  }
  // cpu  user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
  const ticks = stat.slice(0, stat.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  const busyTicks = ticks.slice(0, 8).reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + t), 0);
  return { threads, machineMs: (busyTicks * 1000) / USER_HZ };
}

/**
 * CPU milliseconds per group between two snapshots. A thread that started in between counts
 * whole; one that ended in between is lost (a PostgreSQL connection closing mid-scenario).
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuBreakdown {
  const ms: Record<CpuGroup, number> = { serverMain: 0, serverThreads: 0, postgres: 0, redis: 0, loadGenerator: 0 };
  for (const [key, ns] of after.threads) {
    const used = ns - (before.threads.get(key) ?? 0);
    if (used > 0) ms[key.slice(0, key.indexOf(' ')) as CpuGroup] += used / 1e6;
  }
  return { ...ms, machine: after.machineMs - before.machineMs };
}

const KEYS: readonly (keyof CpuBreakdown)[] = [...CPU_GROUPS, 'machine'];
const each = (value: (key: keyof CpuBreakdown) => number): CpuBreakdown =>
  Object.fromEntries(KEYS.map((key) => [key, value(key)])) as unknown as CpuBreakdown;

export const addCpu = (a: CpuBreakdown, b: CpuBreakdown): CpuBreakdown => each((key) => a[key] + b[key]);

export const scaleCpu = (cpu: CpuBreakdown, factor: number): CpuBreakdown => each((key) => cpu[key] * factor);
