import { cpSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

/**
 * Copies into `dir` what a stage of the Dockerfile (and the stages it is built `FROM`) copies from
 * the build context, less what .dockerignore leaves out: the files `RUN` sees in that stage. Only
 * the forms the Dockerfile uses are understood (`COPY <src>… <dest>` without `--from`, patterns
 * without `!`); anything else fails loudly rather than copying the wrong tree.
 */
export function copyStageContext(root: string, stage: string, dir: string): void {
  const ignored = dockerignore(root);
  const stages = new Map<string, { base: string; copies: string[][] }>();
  let current: { base: string; copies: string[][] } | undefined;
  for (const raw of readFileSync(join(root, 'Dockerfile'), 'utf8').split('\n')) {
    const line = raw.trim();
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) {
      current = { base: from[1]!, copies: [] };
      if (from[2]) stages.set(from[2], current);
      continue;
    }
    if (!/^COPY\s/i.test(line) || /--from=/.test(line)) continue;
    const words = line.split(/\s+/).slice(1);
    if (words.some((w) => w.startsWith('--') || w.startsWith('['))) throw new Error(`unsupported COPY form: ${line}`);
    current?.copies.push(words);
  }

  const chain: string[][] = [];
  for (let name: string | undefined = stage; name !== undefined && stages.has(name);) {
    const { base, copies }: { base: string; copies: string[][] } = stages.get(name)!;
    chain.unshift(...copies);
    name = base;
  }
  if (chain.length === 0) throw new Error(`the Dockerfile has no stage "${stage}" that copies files`);

  for (const words of chain) {
    const dest = words.at(-1)!;
    const sources = words.slice(0, -1);
    for (const source of sources) {
      const into = sources.length > 1 || dest.endsWith('/') ? join(dir, dest, basename(source)) : join(dir, dest);
      cpSync(join(root, source), into, { recursive: true, filter: (path) => !ignored(relative(root, path)) });
    }
  }
}

/** .dockerignore as a predicate on paths relative to the context (Docker's rules: anchored at the root, `**` any depth). */
function dockerignore(root: string): (path: string) => boolean {
  const patterns = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (patterns.some((p) => p.startsWith('!'))) throw new Error('.dockerignore exceptions (!) are not understood here');
  const regexes = patterns.map((pattern) => {
    const body = pattern
      .replace(/^\/+|\/+$/g, '')
      .split(/(\*\*\/|\*|\?)/)
      .map((part) => {
        if (part === '**/') return '(?:.*/)?';
        if (part === '*') return '[^/]*';
        if (part === '?') return '[^/]';
        return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      })
      .join('');
    // A pattern that names a directory leaves out everything under it.
    return new RegExp(`^${body}(?:/.*)?$`);
  });
  return (path) => path !== '' && regexes.some((re) => re.test(path));
}
