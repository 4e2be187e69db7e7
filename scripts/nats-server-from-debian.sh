#!/usr/bin/env bash
# Fetches nats-server from another Debian release without touching this machine's apt state, and
# prints the binary's path. Debian bookworm ships 2.9.10 (what CI and `apt install` give); the
# deploy files pin nats:2.10, which Debian trixie carries (2.10.x), and sid the newest release.
#
#   scripts/nats-server-from-debian.sh trixie [DIR]   -> DIR/nats-server-2.10.27 (DIR: .cache/nats)
#   TESSERA_NATS_SERVER=$(scripts/nats-server-from-debian.sh trixie) pnpm turbo run test
#
# apt does the fetching, so the release's signature and every checksum are verified with this
# machine's Debian keyring. Debian builds nats-server as a Go binary linked only to libc: it runs
# on bookworm.
set -euo pipefail
SUITE="${1:?usage: nats-server-from-debian.sh SUITE [DIR]   (SUITE: trixie, sid, ...)}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${2:-$ROOT/.cache/nats}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/deb" "$DEST"
echo "deb $MIRROR $SUITE main" > "$WORK/sources.list"
APT=(apt-get -qq
  -o "Dir::Etc::SourceList=$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$WORK/lists" -o "Dir::Cache=$WORK/cache"
  -o APT::Sandbox::User="$(id -un)")
"${APT[@]}" update >&2 || { echo "nats-server-from-debian: apt update of '$SUITE' from $MIRROR failed" >&2; exit 1; }
(cd "$WORK/deb" && "${APT[@]}" download nats-server >&2) \
  || { echo "nats-server-from-debian: no nats-server package in Debian '$SUITE'" >&2; exit 1; }
dpkg-deb -x "$WORK"/deb/nats-server_*.deb "$WORK/root"
BIN="$WORK/root/usr/sbin/nats-server"
[ -x "$BIN" ] || BIN="$WORK/root/usr/bin/nats-server"
VERSION="$("$BIN" --version | sed -n 's/^nats-server: v//p')"
[ -n "$VERSION" ] || { echo "nats-server-from-debian: the packaged binary did not run here" >&2; exit 1; }
install -m 0755 "$BIN" "$DEST/nats-server-$VERSION"
echo "$DEST/nats-server-$VERSION"
