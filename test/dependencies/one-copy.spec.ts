import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The directory a package resolves to when required from inside `fromPackage`. */
const resolvedFrom = (fromPackage: string, name: string): string =>
  dirname(require.resolve(`${name}/package.json`, { paths: [dirname(require.resolve(`${fromPackage}/package.json`))] }));

const versionOf = (dir: string): string => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * package.json's `overrides` lift the Fastify that @nestjs/platform-fastify pins (5.11.3) to the
 * current 5.x, and find-my-way with it. Nest's adapter imports find-my-way's URL sanitizer to read
 * paths as Fastify's router does, so the two must be one copy: dropping either override would
 * leave them on different versions without any error.
 */
describe('dependency tree', () => {
  it('gives Nest’s Fastify adapter and Fastify the same find-my-way', () => {
    const fastify = resolvedFrom('@nestjs/platform-fastify', 'fastify');
    expect(resolvedFrom('@nestjs/platform-fastify', 'find-my-way')).toBe(resolvedFrom(fastify, 'find-my-way'));
  });

  it('runs a Fastify whose body parsing no longer builds AsyncResource.bind wrappers (5.12 and later)', () => {
    const [major, minor] = versionOf(resolvedFrom('@nestjs/platform-fastify', 'fastify')).split('.').map(Number);
    expect(major).toBe(5);
    expect(minor).toBeGreaterThanOrEqual(12);
  });

  it('holds one copy of @langchain/core', () => {
    const core = resolvedFrom('langchain', '@langchain/core');
    for (const from of ['@langchain/langgraph', '@langchain/openai']) expect(resolvedFrom(from, '@langchain/core')).toBe(core);
  });
});
