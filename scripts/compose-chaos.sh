#!/usr/bin/env bash
# Chaos on a running compose stack (docker-compose.yml, optionally with the secure and offline
# overrides): one undisturbed exact-mode matmul, then the same job while the consensus leader is
# SIGKILLed twice, an agent once and a NATS node once. Every kill is of the container's main
# process from the host, i.e. a crash that Docker's restart policy answers (`docker kill` would
# count as a deliberate stop and leave the container down). Prints one JSON object; exits 1 unless
# both jobs verify with the same digest and `tessera verify` of the chaos job in another
# container (consensus-1) agrees.
#
#   scripts/compose-chaos.sh -f docker-compose.yml [-f docker-compose.secure.yml] …
#   scripts/compose-chaos.sh --standin    # the Helm chart's pods of deploy/helm-offline/run.sh
#
# With --standin, consensus-N is the pod tessera-consensus-<N-1>, nats-N tessera-nats-<N-1>,
# agent-1 the first agent pod by name, and the CLI (and `verify`, which needs the storage
# credentials the chart gives only there) runs in the storage-manager's pod.
#
# Needs a Linux Docker host (the containers' processes visible to `kill`, as root) and Node on
# the host to read the CLI's JSON. N and TILE (default 6144 and 512) size the job.
set -euo pipefail
N="${N:-6144}"
TILE="${TILE:-512}"
if [[ "${1:-}" == "--standin" ]]; then
  container_of() { # service name as in docker-compose.yml → pod (container) name
    case "$1" in
      consensus-* | nats-*) echo "tessera-${1%-*}-$((${1##*-} - 1))" ;;
      agent-*) docker ps --filter label=app.kubernetes.io/component=agent --format '{{.Names}}' |
        sort | sed -n "${1#agent-}p" ;;
    esac
  }
  CLI_CONTAINER="$(docker ps --filter label=app.kubernetes.io/component=storage-manager \
    --format '{{.Names}}' | head -1)"
  VERIFY_CONTAINER="$CLI_CONTAINER"
else
  if docker compose version >/dev/null 2>&1; then DC=(docker compose); else DC=(docker-compose); fi
  DC+=("$@")
  container_of() { "${DC[@]}" ps -q "$1"; }
  CLI_CONTAINER="$(container_of scheduler-2)" # a container this script never kills
  # The job's outputs read back in consensus-1 (restarted, maybe), not where it was watched.
  VERIFY_CONTAINER="$(container_of consensus-1)"
fi

cli() { docker exec "$CLI_CONTAINER" tessera "$@"; } # docker exec: ~10× quicker than compose v1's
field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s.trim().split("\n").pop())[process.argv[1]];console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"; }
pid_of() { docker inspect -f '{{.State.Pid}}' "$(container_of "$1")"; }
restarts_of() { docker inspect -f '{{.RestartCount}}' "$(container_of "$1")"; }
now_ms() { date +%s%3N; }
KILLS=()
crash() { # service
  local pid; pid="$(pid_of "$1")"
  kill -9 "$pid"
  KILLS+=("{\"service\":\"$1\",\"pid\":$pid,\"atMs\":$(($(now_ms) - START_MS))}")
}

leader() { # the leader's peer number; an election may be under way: ask again for up to 20 s
  local id
  for _ in $(seq 1 40); do
    id="$(cli cluster status --json | field leader)" || id=""
    [[ "$id" =~ ^[0-9]+$ ]] && { echo "$id"; return; }
    sleep 0.5
  done
  echo "compose-chaos: no consensus leader for 20 s" >&2; return 1
}

submit=(job submit matmul --n "$N" --tile "$TILE" --mode exact --wait --json)
calm="$(cli "${submit[@]}")"

START_MS="$(now_ms)"
cli "${submit[@]}" > "${TMPDIR:-/tmp}/compose-chaos.$$" &
JOB=$!
sleep 2; crash "consensus-$(leader)"
sleep 2; crash agent-1
sleep 2; crash "consensus-$(leader)"
crash nats-2
wait "$JOB"
chaos="$(cat "${TMPDIR:-/tmp}/compose-chaos.$$")"; rm -f "${TMPDIR:-/tmp}/compose-chaos.$$"

verify="$(docker exec "$VERIFY_CONTAINER" tessera verify "$(echo "$chaos" | field jobId)" --json)"

restarts=""
for s in consensus-1 consensus-2 consensus-3 agent-1 nats-2; do
  restarts+="${restarts:+,}\"$s\":$(restarts_of "$s")"
done
ok=true
for j in "$calm" "$chaos"; do
  [[ "$(echo "$j" | field verified)" == true ]] || ok=false
done
[[ "$(echo "$calm" | field digest)" == "$(echo "$chaos" | field digest)" ]] || ok=false
[[ "$(echo "$verify" | field verified)" == true ]] || ok=false
[[ "$(echo "$verify" | field digest)" == "$(echo "$chaos" | field digest)" ]] || ok=false
kills="$(IFS=,; echo "${KILLS[*]}")"
echo "{\"ok\":$ok,\"undisturbed\":$calm,\"chaos\":$chaos,\"kills\":[$kills],\"restarts\":{$restarts},\"verify\":$verify}"
$ok
