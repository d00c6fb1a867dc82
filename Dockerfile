# syntax=docker/dockerfile:1
# dzug: one image for every process; the arguments pick it (WORKDIR /app):
#   <image>                          -> node gateway/main.ts            (default CMD)
#   <image> services/user/main.ts    -> node services/user/main.ts
#   <image> services/relation/main.ts  (any services/<name>/main.ts: relation, message, …)
# See docs/image.md. Elsewhere: `docker build .`; on the dev machine: scripts/image/build.sh.

# Any Debian-based image with Node 24 and npm 11 on PATH and useradd/groupadd (node:24-bookworm-slim,
# or localhost/dzug-base:bookworm-node24 made by scripts/image/make-base.sh).
ARG BASE_IMAGE=node:24-bookworm-slim

# ---- deps: production dependencies only, exactly as locked --------------------------------------
FROM ${BASE_IMAGE} AS deps
# A CA bundle path for npm/Node behind a TLS-intercepting proxy (bind-mount the file at build time);
# empty means the system store only.
ARG NODE_EXTRA_CA_CERTS=""
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts of dependencies run only where package.json `allowScripts` lets them (npm 11).
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/.cache

# ---- check: type-check with dev dependencies (opt-in: --target check; never part of the runtime) --
FROM ${BASE_IMAGE} AS check
ARG NODE_EXTRA_CA_CERTS=""
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: tsc and @types need none (it also skips the `node` dev dependency's download).
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY proto/gen ./proto/gen
COPY platform ./platform
COPY services ./services
COPY gateway ./gateway
RUN node_modules/.bin/tsc -p tsconfig.json --noEmit

# ---- runtime -------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG BASE_IMAGE
ENV NODE_ENV=production
WORKDIR /app
# Fixed non-root uid/gid 10001 (numeric USER below, so runAsNonRoot can verify it). /app/.data is the
# only writable place under /app: the default sqlite:.data/dzug.db works; elsewhere mount a volume.
RUN groupadd --gid 10001 dzug \
 && useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin dzug \
 && mkdir -p /app/.data && chown 10001:10001 /app/.data
# Code and dependencies stay root-owned: the process cannot modify them.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY proto/gen ./proto/gen
COPY platform ./platform
COPY services ./services
COPY gateway ./gateway
USER 10001:10001
# gateway HTTP, service gRPC, service admin (/metrics /healthz /readyz)
EXPOSE 8080 50051 9464
ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="dzug" \
      org.opencontainers.image.description="dzug gRPC services (user, relation, message) and HTTP gateway; pick the process with the command: gateway/main.ts (default) or services/<name>/main.ts" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
# Exec form: node is PID 1 and gets SIGTERM directly (our processes handle it and drain).
ENTRYPOINT ["node"]
CMD ["gateway/main.ts"]
