#!/usr/bin/env bash
# pjdfstest (the POSIX filesystem suite) against mountie's data paths, from the shared copy in
# ../shared/conformance (no network). Builds it in a temp dir, then for each target mounts a fresh
# tmpfs-backed source with `mountie mount --allow-other` (pjdfstest switches to other uids) in a
# private MOUNTIE_HOME, runs `prove -r` inside the mount, and prints one table row per target:
# assertions passed / run, and failed test files. Targets: native (mountie's passthrough),
# bindfs (-o big_writes; the reference), ramfs (examples/ramfs, the author path: a kind's own
# FsOps served by the native core, mounted through its own command with --allow-other; it needs
# no source, so no tmpfs). Root only.
#
#   bash scripts/conformance/pjdfstest.sh [--write] [native] [bindfs] [ramfs]   (default: native)
#   PJDFSTEST_TESTS="chmod link" bash scripts/conformance/pjdfstest.sh native   (a subset of tests/)
# --write: also put the table (with the command, date and load average) into docs/CONFORMANCE.md,
# between its pjdfstest markers (a run of the whole suite only).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
TARBALL=${PJDFSTEST_TARBALL:-$REPO/../shared/conformance/pjdfstest-85a8aea.tar.gz}
WRITE=0
if [ "${1:-}" = --write ]; then WRITE=1; shift; fi
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(native)
[ "$(id -u)" = 0 ] || { echo "pjdfstest.sh: run as root (pjdfstest switches uids)" >&2; exit 2; }
[ -f "$TARBALL" ] || { echo "pjdfstest.sh: $TARBALL not found (set PJDFSTEST_TARBALL)" >&2; exit 2; }
[ -f "$REPO/dist/cli/main.js" ] || { echo "pjdfstest.sh: run npm run build first" >&2; exit 2; }

WORK=$(mktemp -d /tmp/mountie-pjdfstest-XXXXXX)
chmod 755 "$WORK" # the uids pjdfstest switches to must reach the mountpoints
MOUNTED=() # target names still mounted
unmount_target() {
  case $1 in
    native | js) MOUNTIE_HOME="$WORK/home-$1" node "$REPO/dist/cli/main.js" stop pjd >/dev/null 2>&1 || true ;;
    bindfs) fusermount -u "$WORK/mnt-bindfs" 2>/dev/null || true ;;
    ramfs) RAMFS_HOME="$WORK/home-ramfs" node "$REPO/dist-examples/ramfs/cli.js" stop pjd >/dev/null 2>&1 || true ;;
  esac
}
cleanup() {
  for t in "${MOUNTED[@]}"; do unmount_target "$t"; done
  # Only our own tmpfs; a daemon that just exited may still hold it for a moment.
  for _ in 1 2 3 4 5; do mountpoint -q "$WORK/tmpfs" && umount "$WORK/tmpfs" 2>/dev/null && break; sleep 1; done
  mountpoint -q "$WORK/tmpfs" || rm -rf "$WORK"
}
trap cleanup EXIT

echo "building pjdfstest in $WORK ..." >&2
tar -xzf "$TARBALL" -C "$WORK"
SUITE=$(find "$WORK" -maxdepth 1 -mindepth 1 -type d | head -1)
(cd "$SUITE" && autoreconf -ifs >/dev/null 2>&1 && ./configure >/dev/null && make pjdfstest >/dev/null)
mkdir "$WORK/tmpfs"
# A source only for the targets that serve one (ramfs keeps its files in the daemon's memory).
if printf '%s\n' "${TARGETS[@]}" | grep -qvx ramfs; then mount -t tmpfs -o size=1g,mode=755 tmpfs "$WORK/tmpfs"; fi

TESTS=()
if [ -n "${PJDFSTEST_TESTS:-}" ]; then
  for t in $PJDFSTEST_TESTS; do TESTS+=("$SUITE/tests/$t"); done
else
  TESTS=("$SUITE/tests")
fi

run_target() {
  local name=$1 src="$WORK/tmpfs/src-$1" mnt="$WORK/mnt-$1" home="$WORK/home-$1"
  mkdir -p "$src" "$mnt"
  chmod 755 "$src" "$mnt"
  case $name in
    native)
      MOUNTIE_HOME=$home node "$REPO/dist/cli/main.js" mount pjd --source "$src" --at "$mnt" --allow-other --background >/dev/null
      ;;
    bindfs) bindfs -o big_writes,allow_other "$src" "$mnt" ;;
    ramfs)
      [ -f "$REPO/dist-examples/ramfs/cli.js" ] || { echo "pjdfstest.sh: run npm run build first (dist-examples/)" >&2; return 2; }
      RAMFS_HOME=$home node "$REPO/dist-examples/ramfs/cli.js" mount pjd --at "$mnt" --allow-other >/dev/null
      ;;
    *) echo "unknown target $name" >&2; return 2 ;;
  esac
  MOUNTED+=("$name")
  local out="$WORK/prove-$name.txt" t0=$SECONDS
  (cd "$mnt" && prove -r "${TESTS[@]}" >"$out" 2>&1) || true
  local secs=$((SECONDS - t0))
  # The summary: "Files=N, Tests=M" and, per failing file, "(Wstat: 0 Tests: 7 Failed: 1)".
  local run failed
  run=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$out" | tail -1)
  failed=$(grep -oE 'Tests: [0-9]+ Failed: [0-9]+\)' "$out" | awk '{s+=$4} END {print s+0}' || true)
  local files
  files=$(grep -E '^[^ ].*\(Wstat: [0-9]+ Tests: [0-9]+ Failed: [1-9]' "$out" | sed -E 's#^.*/tests/([^ ]+) +\(.*#\1#' | tr '\n' ' ' | sed 's/ $//' || true)
  printf '| %s | %s / %s | %s s | %s |\n' "$name" "$(( ${run:-0} - failed ))" "${run:-0}" "$secs" "${files:-none}" | tee -a "$TABLE"
  cp "$out" "${PJDFSTEST_KEEP:-/dev/null}" 2>/dev/null || true
  unmount_target "$name"
  MOUNTED=("${MOUNTED[@]/$name}")
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%Y-%m-%dT%H:%MZ)
TABLE="$WORK/table.md"
{
  echo "| target | assertions passed / run | time | test files with failures |"
  echo "|---|---:|---:|---|"
} | tee "$TABLE"
for t in "${TARGETS[@]}"; do run_target "$t"; done

if [ "$WRITE" = 1 ] && printf '%s\n' "${TARGETS[@]}" | grep -qx ramfs; then
  # The markers hold the data paths' table; ramfs's is in its own section, with its failures classified.
  echo "not written to docs/CONFORMANCE.md: ramfs's table goes in \"The author path\" by hand" >&2
elif [ "$WRITE" = 1 ] && [ -z "${PJDFSTEST_TESTS:-}" ]; then
  HEAD="\`bash scripts/conformance/pjdfstest.sh --write ${TARGETS[*]}\`, $START, load average $LOAD0 → $(cut -d' ' -f1-3 /proc/loadavg) (2 cores, shared):"
  DOC="$REPO/docs/CONFORMANCE.md" HEAD="$HEAD" TABLE="$TABLE" node -e '
    const fs = require("node:fs");
    const [a, b] = ["<!-- pjdfstest:start -->", "<!-- pjdfstest:end -->"];
    const doc = fs.readFileSync(process.env.DOC, "utf8");
    const i = doc.indexOf(a), j = doc.indexOf(b);
    if (i < 0 || j < i) throw new Error(`${process.env.DOC} has no pjdfstest markers`);
    const body = `${a}\n${process.env.HEAD}\n\n${fs.readFileSync(process.env.TABLE, "utf8")}${b}`;
    fs.writeFileSync(process.env.DOC, doc.slice(0, i) + body + doc.slice(j + b.length));
  '
  echo "written to docs/CONFORMANCE.md" >&2
elif [ "$WRITE" = 1 ]; then
  echo "not written to docs/CONFORMANCE.md: PJDFSTEST_TESTS runs a subset" >&2
fi
