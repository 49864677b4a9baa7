import { readFileSync } from 'node:fs';

/**
 * `npx ts-node --transpile-only bench/profile-summary.ts <file.cpuprofile> [top]`: the functions
 * with the most self time, and the packages (node_modules/<name>) the time went to. Enough to
 * see where a request's time goes without opening DevTools.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-summary <file.cpuprofile> [top]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const fnTime = new Map<string, number>();
const pkgTime = new Map<string, number>();
for (const [id, us] of self) {
  const frame = byId.get(id)!.callFrame;
  const where = frame.url.replace(/^.*\/node_modules\//, 'node_modules/').replace(/^file:\/\/.*\/(dist|src)\//, '$1/');
  const key = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
  fnTime.set(key, (fnTime.get(key) ?? 0) + us);
  const pkg =
    /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url)?.[1] ??
    (frame.url === '' ? `(${frame.functionName || 'native'})` : frame.url.startsWith('node:') ? 'node core' : 'app');
  pkgTime.set(pkg, (pkgTime.get(pkg) ?? 0) + us);
}
const print = (title: string, map: Map<string, number>, top: number): void => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
};
process.stdout.write(`total sampled: ${(total / 1e6).toFixed(1)} s\n`);
print('self time by package', pkgTime, 20);
print('self time by function', fnTime, Number(topArg ?? 30));
