import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, availableParallelism, release, platform } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './processes';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly os: string;
  readonly loadAverageBefore: readonly number[];
}

export interface Versions {
  readonly node: string;
  readonly nest: string;
  readonly fastify: string;
  readonly autocannon: string;
  readonly argon2: string;
  postgres?: string;
  redis?: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${platform()} ${release()}`,
    loadAverageBefore: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function versions(): Versions {
  return {
    node: process.version,
    nest: packageVersion('@nestjs/core'),
    fastify: packageVersion('fastify'),
    autocannon: packageVersion('autocannon'),
    argon2: packageVersion('@node-rs/argon2'),
  };
}
