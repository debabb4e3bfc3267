# One image recipe for every Node service of this repository, chosen by the WORKSPACE build argument:
#   docker build --build-arg WORKSPACE=audit-api -t lookout/audit-api .   (runs dist/src/main.js)
#   docker build --build-arg WORKSPACE=examples  -t lookout/examples .    (gateway, runs, worker, alert-webhook, traffic)
#   docker build --build-arg WORKSPACE=ops       -t lookout/ops .         (the backup service, dist/src/main.js)
# docker-compose.yml passes the argument and names each service's entry point with `command`.
# Sources are copied path by path (not `COPY . .`), so a developer's node_modules/ and dist/ never reach
# the image even without a .dockerignore.

FROM node:24.11.1-bookworm-slim AS build
ARG WORKSPACE
WORKDIR /app
# Manifests first: the dependency layer is rebuilt only when they change. Every workspace named in the
# root package.json has its manifest here, as npm ci checks them against the lockfile.
COPY package.json package-lock.json tsconfig.json ./
COPY agent/package.json agent/
COPY audit-api/package.json audit-api/
COPY examples/package.json examples/
COPY ops/package.json ops/
COPY stack/package.json stack/
COPY testkit/package.json testkit/
# --ignore-scripts: no install scripts run (the root package.json allows none; esbuild finds its binary
# through its @esbuild/<platform> optional dependency).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY agent/tsconfig.json agent/tsconfig.build.json agent/build-preload.mjs agent/
COPY agent/src agent/src
COPY ${WORKSPACE}/tsconfig.json ${WORKSPACE}/tsconfig.build.json ${WORKSPACE}/
COPY ${WORKSPACE}/src ${WORKSPACE}/src
# A pattern, not a path: a workspace without migrations (ops) copies nothing, where a missing path fails the build.
COPY ${WORKSPACE}/migration[s] ${WORKSPACE}/migrations/
# agent: tsc + the esbuild bundle of the --import entry (dist/preload); the service: tsc into dist/. Then
# only the agent's and the service's built trees and production dependencies stay.
RUN npm run build -w agent -w "${WORKSPACE}" \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf agent/src "${WORKSPACE}/src" "${WORKSPACE}/migrations" \
 && find . -mindepth 1 -maxdepth 1 -type d ! -name node_modules ! -name agent ! -name "${WORKSPACE}" -exec rm -rf {} +

FROM node:24.11.1-bookworm-slim
ARG WORKSPACE
ENV NODE_ENV=production
# The backup service's image only: pg_dump must be at least the server's version (compose runs PostgreSQL 17)
# and Debian bookworm ships 15, so postgresql-client-17 from the PostgreSQL project's apt repository, set up by
# Debian's own postgresql-common script with the signing key it ships; and the backups' directory, owned by the
# process's user (compose mounts a named volume there, which takes the ownership on first use). The other
# images get nothing.
RUN if [ "$WORKSPACE" = ops ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends ca-certificates postgresql-common \
      && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
      && apt-get install -y --no-install-recommends postgresql-client-17 \
      && rm -rf /var/lib/apt/lists/* \
      && install -d -o node -g node /var/lib/lookout/backups; \
    fi
# Root-owned and read-only for the process: the services write nothing to their own tree.
COPY --from=build /app /app
WORKDIR /app/${WORKSPACE}
USER node
# Every service preloads the agent, so each is traced, measured and logged like any other. No CMD: the
# entry point is the service's choice (compose's `command`, e.g. dist/src/main.js for the audit API), and
# compose probes health (GET /health/ready).
ENTRYPOINT ["node", "--import", "@lookout/agent/register"]
