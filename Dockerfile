# One image for every Tessera process: consensus peers, scheduler, storage-manager, agents and
# the `tessera` CLI. docker-compose.yml and the Helm chart (helm/tessera) pick the process with
# the container command, e.g.
#
#   docker build -t tessera:dev .
#   docker run --rm tessera:dev node services/agent/dist/main.js --help
#   docker run --rm tessera:dev tessera --help
#
# The workspace is built as a whole (pnpm + turbo, exactly as `npm test` builds it) and the whole
# /app tree is copied into the runtime stage: pnpm's node_modules are symlinks into
# node_modules/.pnpm inside the workspace, and libs/protocol/proto/*.proto is read at run time
# next to its dist/. Needs BuildKit (the default of Docker 23+ and of `docker compose`; Docker
# 20.10 with DOCKER_BUILDKIT=1). No `# syntax=` line: the engine's built-in Dockerfile frontend has
# everything used here (RUN --mount=type=cache), so a build pulls nothing but the base image and
# works on a host that reaches only a mirror of it (deploy/compose-offline).

# Node 24 (LTS, maintained until April 2028): Node 20 reached its end of life in April 2026 and
# Node 22's ends in April 2027. The code also runs on Node >= 20.10 (package.json "engines"; the
# development machine runs 20). CI runs every suite on this machine's Node and, on the major named
# here, the demo plus the unit suites that handle buffers and files (.ci/image-node: Node from the
# npm registry, no Docker engine). Override with --build-arg NODE_IMAGE=...
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build

# onnxruntime-node's install script only downloads CUDA binaries (and fails without network);
# the CPU execution provider ships inside the npm package. pnpm-workspace.yaml already lists it
# under ignoredBuiltDependencies; the variables keep it skipped if that ever changes.
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    ONNXRUNTIME_NODE_INSTALL_CUDA=skip \
    CI=true \
    TURBO_TELEMETRY_DISABLED=1 \
    DO_NOT_TRACK=1

# The version pinned by package.json's "packageManager".
RUN npm install -g pnpm@10.34.9

WORKDIR /app
COPY . .

# The pnpm store lives in a BuildKit cache mount, so a rebuild after a source change re-links
# packages instead of downloading them again (files are copied out of the mount into the layer).
RUN --mount=type=cache,id=tessera-pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --store-dir /pnpm/store

RUN pnpm turbo run build

# What the runtime stage copies needs neither the development tools (TypeScript, Biome, turbo,
# vitest, esbuild: ~200 MiB) nor onnxruntime-node's binaries for macOS and Windows (~220 MiB):
# link production dependencies only, afresh from the store (offline; `install --prod` over the
# full tree unlinks the others but leaves them in node_modules/.pnpm), and drop those binaries.
RUN --mount=type=cache,id=tessera-pnpm-store,target=/pnpm/store \
    find . -name node_modules -type d -prune -exec rm -rf {} + \
 && pnpm install --prod --frozen-lockfile --offline --store-dir /pnpm/store \
 && rm -rf node_modules/.pnpm/onnxruntime-node@*/node_modules/onnxruntime-node/bin/napi-v6/darwin \
           node_modules/.pnpm/onnxruntime-node@*/node_modules/onnxruntime-node/bin/napi-v6/win32

# ---- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# glibc malloc settings for the processes that move tile-sized buffers: heap-backed multi-MiB
# buffers kept for reuse, in transparent huge pages (libs/config/src/tile-buffer-malloc.ts says
# what each saves; `tessera dev up` sets the same; test/e2e deploy-files.test.ts keeps them equal).
ENV NODE_ENV=production \
    TESSERA_LOG_LEVEL=info \
    MALLOC_MMAP_THRESHOLD_=33554432 \
    MALLOC_TRIM_THRESHOLD_=536870912 \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1

# openssl: docker-compose.secure.yml's `secrets` service makes the cluster's CA, certificate and
# tokens with it (cli/scripts/make-secrets.sh), as does `tessera dev up --secure`; the slim
# image has only the library.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY --from=build /app /app

# `tessera` on the PATH (used by `docker compose exec consensus-1 tessera …` and `kubectl exec`);
# /var/lib/tessera holds a consensus peer's Raft log (a volume is mounted there) and must be
# writable by the unprivileged user.
RUN printf '#!/bin/sh\nexec node /app/cli/dist/main.js "$@"\n' > /usr/local/bin/tessera \
 && chmod 0755 /usr/local/bin/tessera \
 && mkdir -p /var/lib/tessera \
 && chown node:node /var/lib/tessera

USER node

# consensus gRPC / HTTP (compose: 7001-7003 / 8001-8003; Helm: 7000 / 8000), scheduler,
# storage-manager and agent HTTP (/healthz /readyz /metrics).
EXPOSE 7000 8000 9300 9400 9500

# The command is given by compose / Helm; run alone, the image prints the CLI's help.
CMD ["node", "/app/cli/dist/main.js", "--help"]
