# syntax=docker/dockerfile:1
#
# One image for every process of the system; docker-compose.yml picks the process per service:
#   node apps/api/dist/main.js            (the default CMD)
#   node apps/worker/dist/main.js         (WORKER_ROLES picks what it does)
#   node apps/crm-consumer/dist/main.js
#   node dist/db-migrate.js               (one-shot, before the API and the workers)
#   node apps/cli/dist/main.js            (hsync, the admin CLI, for `docker compose exec`)
# The build stage runs `npm run build` (type check, then each process bundled to one ESM file);
# the runtime stage holds the production dependencies and that compiled output only: no tsx,
# no esbuild, no TypeScript, no sources or tests. Plain node runs it.
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

# Every dependency (dev included), then the source and the build. The compiled output of the
# root and of every app (dist/, apps/*/dist/) is gathered in /compiled, laid out as in /app.
FROM manifests AS build
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
  && mkdir -p /compiled \
  && for out in dist apps/*/dist; do \
       if [ -d "$out" ]; then mkdir -p "/compiled/$out" && cp -R "$out/." "/compiled/$out/"; fi; \
     done

# Production dependencies only. Bull Board's valibot names TypeScript as an optional peer, which
# npm installs even so (the lockfile holds it, for development); nothing loads it at run time.
FROM manifests AS prod-deps
RUN npm ci --omit=dev --no-audit --no-fund \
  && rm -rf node_modules/typescript node_modules/@typescript node_modules/.bin/tsc

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
# Owned by root and read-only to the app user. The manifests say "type": "module" for the
# compiled files beside them (and are what node_modules' workspace links point at).
COPY --from=prod-deps /app/node_modules node_modules
COPY --from=manifests /app ./
COPY --from=build /compiled ./
USER node
EXPOSE 3000
# Exec form: node is PID 1 and gets SIGTERM itself; every process stops after its current page or
# batch (give it the stop_grace_period in docker-compose.yml).
CMD ["node", "apps/api/dist/main.js"]
