# syntax=docker/dockerfile:1
#
# One image for every process of the system; docker-compose.yml picks the process per service:
#   node --import tsx apps/api/src/main.ts           (the default CMD)
#   node --import tsx apps/worker/src/main.ts        (WORKER_ROLES picks what it does)
#   node --import tsx apps/crm-consumer/src/main.ts
#   node --import tsx scripts/db-migrate.ts          (one-shot, before the API and the workers)
# The services run TypeScript directly through tsx: there is no compiled output to copy.
#
# Health: only the API serves HTTP, so the image has no HEALTHCHECK (it would mark every worker
# unhealthy). Check the API with GET /health (the process is up); the slim image has no curl:
#   node -e "fetch('http://127.0.0.1:3000/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"

ARG NODE_IMAGE=node:24-bookworm-slim

# The lockfile and every workspace's package.json (the globs of package.json "workspaces"), nothing
# else. Only these files reach the install stages, so their layers are rebuilt only when a
# dependency changes, and a new workspace needs no change here.
FROM ${NODE_IMAGE} AS manifests-source
WORKDIR /src
COPY . .
RUN mkdir -p /manifests \
  && cp package.json package-lock.json /manifests/ \
  && for manifest in apps/*/package.json packages/*/package.json; do \
       mkdir -p "/manifests/$(dirname "$manifest")" && cp "$manifest" "/manifests/$manifest"; \
     done

FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY --from=manifests-source /manifests ./

# Every dependency (dev included), then the source: what `npm run typecheck` / `npm test` need.
FROM manifests AS deps
RUN npm ci --no-audit --no-fund
COPY . .
# The operator console's static files (apps/console/dist), which the API serves at /console.
RUN npm run build -w @historical-sync/console

# Production dependencies only, plus tsx (a root devDependency that runs the TypeScript) and the
# esbuild it drives, taken from the full install so their versions are the lockfile's.
FROM manifests AS prod-deps
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=deps /app/node_modules/tsx node_modules/tsx
COPY --from=deps /app/node_modules/esbuild node_modules/esbuild
COPY --from=deps /app/node_modules/@esbuild node_modules/@esbuild

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
# Owned by root and read-only to the app user; tsx keeps its cache in the temp folder.
COPY --from=prod-deps /app/node_modules node_modules
COPY --from=deps /app/package.json /app/package-lock.json /app/tsconfig.json /app/tsconfig.base.json ./
COPY --from=deps /app/packages packages
COPY --from=deps /app/apps apps
COPY --from=deps /app/scripts scripts
USER node
EXPOSE 3000
# Exec form: node is PID 1 and gets SIGTERM itself; every process stops after its current page or
# batch (give it the stop_grace_period in docker-compose.yml).
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
