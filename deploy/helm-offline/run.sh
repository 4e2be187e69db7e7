#!/usr/bin/env bash
# Installs the Helm chart on a Docker host without Kubernetes: renders it (deploy/helm-render,
# release "tessera" in namespace "tessera", values.offline.yaml plus any values files given) and
# runs its pods with kubelet-standin.py, beside an s3rver answering as `minio` (the S3 store a
# cluster would provide). Needs the images of deploy/compose-offline/build-images.sh (tessera:dev
# and the stand-ins), Go with Debian's sprig and yaml.v3 (to build helm-render) and python3-yaml.
# Runs in the foreground: one JSON line when every pod is ready, another after SIGTERM/Ctrl-C
# stopped them (exit codes). See README.md here.
#
#   deploy/helm-offline/run.sh [--secure] [VALUES.yaml ...] [-- STANDIN-OPTIONS ...]
#
# --secure: makes a CA, a certificate, an API token (cli/scripts/make-secrets.sh) as Secrets and
# installs with values.secure.yaml (mutual TLS between peers, HTTPS, the API token).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
NETWORK="${TESSERA_STANDIN_NETWORK:-tessera-k8s}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

values=()
objects=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  if [ "$1" = "--secure" ]; then
    # The Secrets values.secure.yaml names, from cli/scripts/make-secrets.sh: one certificate
    # for every peer (the headless Service's wildcard), the API Service and the storage-manager.
    OWNER= sh "$ROOT/cli/scripts/make-secrets.sh" "$WORK/secrets" \
      "*.tessera-consensus-headless.tessera.svc.cluster.local" \
      tessera-consensus tessera-consensus.tessera tessera-consensus.tessera.svc \
      tessera-consensus.tessera.svc.cluster.local tessera-storage-manager \
      tessera-storage-manager.tessera tessera-storage-manager.tessera.svc \
      tessera-storage-manager.tessera.svc.cluster.local >&2
    python3 - "$WORK/secrets" > "$WORK/secrets.yaml" <<'PY'
import base64, json, sys
d = sys.argv[1]
def secret(name, files):
    data = {k: base64.b64encode(open(f"{d}/{f}", "rb").read()).decode() for k, f in files.items()}
    print("---\n" + json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data}))
tls = {"ca.crt": "ca.crt", "tls.crt": "tls.crt", "tls.key": "tls.key"}
secret("tessera-cluster-tls", tls)
secret("tessera-api-tls", tls)
secret("tessera-api-token", {"token": "api-token"})
PY
    values+=("$HERE/values.secure.yaml")
    objects+=(--objects "$WORK/secrets.yaml")
  else
    values+=("$1")
  fi
  shift
done
[ "${1:-}" = "--" ] && shift

(cd "$ROOT" && GO111MODULE=off GOPATH="${GOPATH:-/usr/share/gocode}" GOFLAGS="" \
  go build -o "$WORK/helm-render" ./deploy/helm-render)
"$WORK/helm-render" --name tessera --namespace tessera "$ROOT/helm/tessera" \
  "$HERE/values.offline.yaml" "${values[@]}" > "$WORK/manifests.yaml"

docker network inspect "$NETWORK" >/dev/null 2>&1 || docker network create "$NETWORK" >/dev/null
docker rm -f tessera-minio >/dev/null 2>&1 || true
docker run -d --name tessera-minio --label tessera.kubelet-standin=1 --network "$NETWORK" \
  --network-alias minio --restart always tessera-offline/s3rver:3.7.1 \
  node /opt/s3rver/s3rver.cjs >/dev/null

# In the background so that a SIGTERM to this script ("uninstall") reaches the stand-in: bash
# would otherwise die of it at once and leave the pods running under an orphaned stand-in.
python3 "$HERE/kubelet-standin.py" up "$WORK/manifests.yaml" --namespace tessera \
  --network "$NETWORK" "${objects[@]}" "$@" &
STANDIN=$!
trap 'kill -TERM "$STANDIN" 2>/dev/null || true' TERM INT
# `wait` returns early when a trapped signal arrives: wait again until the stand-in has exited.
rc=0
wait "$STANDIN" || rc=$?
while kill -0 "$STANDIN" 2>/dev/null; do rc=0; wait "$STANDIN" || rc=$?; done
exit "$rc"
