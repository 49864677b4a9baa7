import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, SETTING_NAMES, loadConfig } from '../../src/common/config';

const ROOT = join(__dirname, '../..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const unquote = (value: string): string => value.trim().replace(/^(['"])(.*)\1$/, '$2');

/** deploy/k8s/config.env: KEY=value lines (kustomize's configMapGenerator). */
function configEnv(): Record<string, string> {
  const lines = read('deploy/k8s/config.env')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** deploy/k8s/secret.yaml's stringData. */
function secretData(): Record<string, string> {
  const body = read('deploy/k8s/secret.yaml').split('\nstringData:\n')[1]!;
  return Object.fromEntries([...body.matchAll(/^ {2}([A-Z0-9_]+): (.*)$/gm)].map((m) => [m[1]!, unquote(m[2]!)]));
}

/** The `env:` entries of the Deployment's containers. */
function deploymentEnv(): Record<string, string> {
  const yaml = read('deploy/k8s/deployment.yaml');
  return Object.fromEntries([...yaml.matchAll(/- name: ([A-Z0-9_]+)\n\s+value: (.*)\n/g)].map((m) => [m[1]!, unquote(m[2]!)]));
}

/** The `environment:` of docker-compose.yml's app service. */
function composeEnv(): Record<string, string> {
  const app = read('docker-compose.yml').split('\n  app:\n')[1]!.split('\n  postgres:\n')[0]!;
  const environment = app.split('\n    environment:\n')[1]!.split(/\n {4}[a-z_]+:/)[0]!;
  return Object.fromEntries([...environment.matchAll(/^ {6}([A-Z0-9_]+): (.*)$/gm)].map((m) => [m[1]!, unquote(m[2]!)]));
}

/** Settings the deployment files hand the app: each one it reads (a misspelt name would be silently ignored), together a valid production configuration. */
describe('deployment settings (deploy/k8s, docker-compose.yml)', () => {
  const readByApp = (names: string[]): string[] => names.filter((n) => n !== 'NODE_OPTIONS'); // Node's own

  it('Kubernetes: every name is one the app reads; with the Secret filled in it starts in production, migrations left to the init container, no demo model', () => {
    const env = { ...configEnv(), ...secretData(), ...deploymentEnv() };
    expect(readByApp(Object.keys(env)).filter((n) => !SETTING_NAMES.includes(n))).toEqual([]);
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['JWT_SECRET', 'SMTP_URL', 'DATABASE_URL', 'REDIS_URL']));

    const config = loadConfig({
      ...env,
      JWT_SECRET: 'k'.repeat(48),
      DATABASE_URL: 'postgres://runtime:secret@postgres:5432/runtime',
      SMTP_URL: 'smtp://user:secret@smtp.example.com:587',
    });
    expect(config.isProduction).toBe(true);
    expect(config.database.migrationsRun).toBe(false);
    expect(config.llm.provider).toBeUndefined();
    expect(config.http.trustProxy).toBe(true);
  });

  it("Kubernetes: secret.yaml's placeholder JWT_SECRET is refused, so a Secret left unfilled cannot start the app", () => {
    const env = { ...configEnv(), ...secretData(), ...deploymentEnv() };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/JWT_SECRET/);
  });

  it('docker-compose: every name is one the app reads, and together they start it in production', () => {
    const env = composeEnv();
    expect(Object.keys(env).length).toBeGreaterThan(5);
    expect(readByApp(Object.keys(env)).filter((n) => !SETTING_NAMES.includes(n))).toEqual([]);
    expect(loadConfig(env).isProduction).toBe(true);
  });
});
