import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOpenApiDocument } from '../../src/configure-app';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * The routes document must change with the routes ("修改路由时必须同步更新此文档"): every
 * `### METHOD /path` heading of docs/api-routes.md is a route of the app, and every route of the
 * app (as its OpenAPI document lists them) has a heading.
 */
const HEADING = /^### (GET|POST|PUT|PATCH|DELETE) (\/\S+)\s*$/gm;

function documentedRoutes(): string[] {
  const text = readFileSync(join(__dirname, '../../docs/api-routes.md'), 'utf8');
  return [...text.matchAll(HEADING)].map((m) => `${m[1]} ${m[2]}`).sort();
}

describe('docs/api-routes.md is in sync with the app', () => {
  let t: TestApp;
  let appRoutes: string[];
  beforeAll(async () => {
    t = await createTestApp();
    const doc = buildOpenApiDocument(t.app);
    appRoutes = Object.entries(doc.paths)
      .flatMap(([path, item]) =>
        Object.keys(item)
          .filter((k) => ['get', 'post', 'put', 'patch', 'delete'].includes(k))
          .map((method) => `${method.toUpperCase()} ${path}`),
      )
      .sort();
  });
  afterAll(async () => {
    await t.close();
  });

  it('documents at least the health routes (the parser works)', () => {
    expect(documentedRoutes()).toEqual(expect.arrayContaining(['GET /api/v1/health', 'GET /api/v1/infra/health']));
  });

  it('has no undocumented route', () => {
    const documented = new Set(documentedRoutes());
    expect(appRoutes.filter((r) => !documented.has(r))).toEqual([]);
  });

  it('documents no route the app lacks', () => {
    const existing = new Set(appRoutes);
    expect(documentedRoutes().filter((r) => !existing.has(r))).toEqual([]);
  });

  it('every documented route is really served by Fastify', () => {
    const fastify = t.app.getHttpAdapter().getInstance();
    for (const route of documentedRoutes()) {
      const [method, path] = route.split(' ') as [string, string];
      const url = path.replace(/\{(\w+)\}/g, ':$1');
      expect({ route, served: fastify.hasRoute({ method: method, url }) }).toEqual({ route, served: true });
    }
  });
});
