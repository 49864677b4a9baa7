import { request } from '../../e2e/support/http';

export interface RouteInfo {
  readonly method: string;
  /** OpenAPI template, e.g. /api/v1/users/{username}. */
  readonly path: string;
  readonly public: boolean;
  readonly pathParams: readonly string[];
  readonly queryParams: readonly string[];
  /** Top-level properties of the JSON body, when the route takes one. */
  readonly bodyFields: readonly string[] | undefined;
}

interface OpenApiOperation {
  security?: unknown[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> };
}

/** Every route the running server serves, from its own OpenAPI document (so new routes are fuzzed too). */
export async function discoverRoutes(baseUrl: string): Promise<RouteInfo[]> {
  const res = await request<{
    paths: Record<string, Record<string, OpenApiOperation>>;
    components?: { schemas?: Record<string, { properties?: Record<string, unknown> }> };
  }>(baseUrl, 'GET', '/api/docs-json');
  if (res.status !== 200) throw new Error(`no OpenAPI document: ${res.status}`);
  const schemas = res.body.components?.schemas ?? {};
  const routes: RouteInfo[] = [];
  for (const [path, operations] of Object.entries(res.body.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const ref = op.requestBody?.content?.['application/json']?.schema?.$ref;
      const schema = ref ? schemas[ref.split('/').pop() ?? ''] : undefined;
      routes.push({
        method: method.toUpperCase(),
        path,
        public: !op.security || op.security.length === 0,
        pathParams: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        bodyFields: op.requestBody ? Object.keys(schema?.properties ?? {}) : undefined,
      });
    }
  }
  return routes;
}

export function hasRoute(routes: readonly RouteInfo[], method: string, path: string): boolean {
  return routes.some((r) => r.method === method && r.path === path);
}
