#!/usr/bin/env bash
# Builds local stand-ins for docker-compose.yml's third-party images on a Docker host that reaches
# Debian's package mirror and the npm registry but no container registry, then tessera:dev from
# the repository's Dockerfile, unchanged. Run as root (debootstrap); takes ~5 minutes.
#
#   tessera-offline/debian:bookworm   debootstrap --variant=minbase bookworm
#   node:24-bookworm-slim             that + Node 24 (npm package node-linux-<arch>) + npm, user node
#                                     (uid 1000), as the official image; the Dockerfile's base
#   tessera-offline/nats:2.10         that + Debian trixie's nats-server 2.10 and wget (for
#                                     nats:2.10-alpine; scripts/nats-server-from-debian.sh)
#   tessera-offline/prometheus:2.42   that + Debian's prometheus           (for prom/prometheus)
#   tessera-offline/s3rver:3.7.1      node + s3rver, ./s3rver.cjs          (for minio, minio/mc)
#
# Grafana, prometheus-nats-exporter and fake-gcs-server have no Debian or npm package: the
# override (docker-compose.offline.yml) leaves them out. See README.md here.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
NODE_MAJOR="$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9]*\)-.*/\1/p' "$ROOT/Dockerfile")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export DOCKER_BUILDKIT=1

need() { command -v "$1" >/dev/null || { echo "build-images: $1 is required ($2)" >&2; exit 1; }; }
need docker "Docker engine and CLI"
need debootstrap "apt-get install debootstrap"
need npm "Node.js"
need apt-get "a Debian host: nats-server comes from Debian trixie"

if ! docker image inspect tessera-offline/debian:bookworm >/dev/null 2>&1; then
  echo "debootstrap bookworm (minbase)…"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >/dev/null
  rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
  tar -C "$WORK/rootfs" -c . | docker import - tessera-offline/debian:bookworm >/dev/null
  rm -rf "$WORK/rootfs"
fi

# Node + npm from the npm registry. A host behind a TLS-intercepting proxy needs its CA inside
# the image too (npm and pnpm run there during the Tessera build): the host's bundle is copied.
mkdir -p "$WORK/node/npm"
ARCH="$(node -p process.arch)"
(cd "$WORK" && npm pack --silent "node-linux-$ARCH@$NODE_MAJOR" "npm@11" >/dev/null)
tar xzf "$WORK"/node-linux-"$ARCH"-*.tgz -C "$WORK/node" package/bin/node --strip-components=2
tar xzf "$WORK"/npm-*.tgz -C "$WORK/node/npm" --strip-components=1
cp /etc/ssl/certs/ca-certificates.crt "$WORK/node/"
cat > "$WORK/node/Dockerfile" <<'DOCKERFILE'
FROM tessera-offline/debian:bookworm
COPY node /usr/local/bin/node
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
CMD ["node"]
DOCKERFILE
docker build -q -t "node:$NODE_MAJOR-bookworm-slim" "$WORK/node"

mkdir -p "$WORK/nats"
cp "$("$ROOT/scripts/nats-server-from-debian.sh" trixie)" "$WORK/nats/nats-server"
cat > "$WORK/nats/Dockerfile" <<'DOCKERFILE'
FROM tessera-offline/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends wget && rm -rf /var/lib/apt/lists/*
COPY nats-server /usr/local/bin/nats-server
EXPOSE 4222 6222 8222
ENTRYPOINT ["nats-server"]
DOCKERFILE
docker build -q -t tessera-offline/nats:2.10 "$WORK/nats"

mkdir -p "$WORK/prometheus"
cat > "$WORK/prometheus/Dockerfile" <<'DOCKERFILE'
FROM tessera-offline/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/*
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
DOCKERFILE
docker build -q -t tessera-offline/prometheus:2.42 "$WORK/prometheus"

mkdir -p "$WORK/s3rver" && cp "$HERE/s3rver.cjs" "$WORK/s3rver/"
cat > "$WORK/s3rver/Dockerfile" <<DOCKERFILE
FROM node:$NODE_MAJOR-bookworm-slim
WORKDIR /opt/s3rver
RUN npm install --no-audit --no-fund s3rver@3.7.1
COPY s3rver.cjs .
EXPOSE 9000
CMD ["node", "/opt/s3rver/s3rver.cjs"]
DOCKERFILE
docker build -q -t tessera-offline/s3rver:3.7.1 "$WORK/s3rver"

echo "tessera:dev from $ROOT/Dockerfile…"
docker build -q -t tessera:dev "$ROOT"
docker images --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E '^(tessera|node:)'
