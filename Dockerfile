# syntax=docker/dockerfile:1
# Runtime API image: build with the full toolchain, run on a slim Node.js with production deps only.
# Node.js 24, an LTS line with security fixes until 2028-04: Node.js 20, which development machines
# and most of CI run (package.json engines: >= 20.19), reached its end of life on 2026-04-30. CI runs
# test/e2e/production-build.e2e-spec.ts on the major named here too (.ci/run reads it from this line).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- deps: every dependency, dev ones included, for the build ----------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# @scarf/scarf (pulled in by swagger-ui-dist) phones home from its postinstall; not from our builds.
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# ---- build: compile TypeScript (the Nest CLI also runs the @nestjs/swagger plugin), then bundle ---
# Every input of `npm run build`: test/e2e/production-build.e2e-spec.ts builds from these COPY lines.
FROM deps AS build
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# ---- prod-deps: runtime dependencies only ------------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# NODE_OPTIONS: the V8 heap cap and worker pool the bench measures with (bench/lib/production-settings.ts).
ENV NODE_ENV=production \
    PORT=3000 \
    NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=16 --v8-pool-size=1"
WORKDIR /app
# Files stay owned by root so the unprivileged process cannot rewrite its own code.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The image's built-in `node` user, numerically so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000
# Liveness only (touches no dependency); readiness is the orchestrator's job (/api/v1/infra/health).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/api/v1/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node as PID 1 receives SIGTERM directly: main.ts drains in-flight requests and exits 0.
CMD ["node", "dist/main.js"]
