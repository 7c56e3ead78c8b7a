#!/usr/bin/env bash
# pjdfstest (../shared/conformance, the POSIX filesystem suite) against mountie's data paths, by
# hand (not in CI: a full run takes minutes per path). Builds pjdfstest once into $PJD_DIR, then
# for each path serves a passthrough of an empty ext4 directory with allow_other (the suite
# switches to other uids) through test/fixtures/serve-passthrough.mjs, runs `prove -r` from
# inside the mount and prints "path passed/run" from prove's summary.
#   bash scripts/conformance/pjdfstest.sh [native] [js] [bindfs]   (default: native js)
# Needs root, autoconf/automake/gcc (apt-get install autoconf automake), a built tree
# (npm run build; npm run build:native for the native path).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
tarball=${PJD_TARBALL:-$repo/../shared/conformance/pjdfstest-85a8aea.tar.gz}
PJD_DIR=${PJD_DIR:-/tmp/mountie-pjdfstest}
paths=("$@"); [ ${#paths[@]} -gt 0 ] || paths=(native js)
if [ ! -x "$PJD_DIR/pjdfstest/pjdfstest" ]; then
  mkdir -p "$PJD_DIR" && tar xzf "$tarball" -C "$PJD_DIR"
  (cd "$PJD_DIR/pjdfstest" && autoreconf -ifs && ./configure && make pjdfstest) >"$PJD_DIR/build.log" 2>&1
fi
work=$(mktemp -d /tmp/mountie-pjd-run-XXXXXX)
chmod 755 "$work"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  fusermount -uz "$work/mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for p in "${paths[@]}"; do
  rm -rf "$work/src" "$work/mnt" && mkdir -p "$work/src" "$work/mnt" && chmod 755 "$work/src" "$work/mnt"
  case "$p" in
    native) node test/fixtures/serve-passthrough.mjs --native --allow-other "$work/src" "$work/mnt" >"$work/server.log" 2>&1 & server=$! ;;
    js) node test/fixtures/serve-passthrough.mjs --allow-other "$work/src" "$work/mnt" >"$work/server.log" 2>&1 & server=$! ;;
    bindfs) bindfs -o allow_other,default_permissions "$work/src" "$work/mnt"; server="" ;;
    *) echo "unknown path $p (native, js, bindfs)" >&2; exit 2 ;;
  esac
  for _ in $(seq 100); do grep -q " $work/mnt " /proc/self/mountinfo && break; sleep 0.1; done
  grep -q " $work/mnt " /proc/self/mountinfo || { echo "$p: did not mount: $(cat "$work/server.log")" >&2; exit 1; }
  out=$(cd "$work/mnt" && timeout 3600 prove -r "$PJD_DIR/pjdfstest/tests" 2>&1 || true)
  echo "$out" >"$work/../mountie-pjd-$p.log"
  # prove's summary: "Files=N, Tests=M" and per file "Failed K/M subtests"
  total=$(echo "$out" | sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p')
  failed=$(echo "$out" | sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' | paste -sd+ | bc)
  echo "$p: $((total - ${failed:-0})) / $total passed (failures listed in /tmp/mountie-pjd-$p.log)"
  if [ -n "$server" ]; then kill "$server"; wait "$server" 2>/dev/null || true; server=""; else fusermount -u "$work/mnt"; fi
done
