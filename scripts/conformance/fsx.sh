#!/usr/bin/env bash
# Data integrity of mountie's data paths, with xfstests' fsx and fsstress (not in Debian's archive
# and not in ../shared: give a checkout of xfstests, e.g. git://git.kernel.org/pub/scm/fs/xfs/xfstests-dev.git,
# or the two binaries). For each target it mounts a fresh ext4-backed source (a directory under
# /tmp) with `mountie mount --background` in a private MOUNTIE_HOME and runs:
#   fsx        FSX_OPS random reads, writes, mmap reads and writes, truncates, fallocate, punch hole,
#              zero range, copy range on one file, each read checked against fsx's own copy;
#   fsstress   the same seed, one process, FSSTRESS_OPS operations, once in a plain directory of the
#              same ext4 and once in the mount; every operation's result (normalized: inode numbers)
#              and the final tree (type, mode, size, links, symlink target, sha256 of every file)
#              must be identical. Operations only ext4 itself answers (collapse/insert range: the
#              FUSE kernel module refuses them; fiemap, inode flags, unshare) are turned off;
#   fsstress   FSSTRESS_PAR processes at once (no comparison: its order is not deterministic); the
#              daemon must still serve afterwards.
# Targets: native (mountie's passthrough; MOUNTIE_SESSION and MOUNTIE_PASSTHROUGH in the environment
# reach its daemon, and its row names the FUSE session and the kernel passthrough's mode and opens),
# bindfs (-o big_writes),
# ramfs (examples/ramfs through its own command: a kind's own `{ fs }` on the native core; it has no
# source, so its tree is read through the mount).
# Root only (it needs FUSE). Prints one table row per target.
#
#   XFSTESTS_SRC=~/xfstests bash scripts/conformance/fsx.sh [native] [bindfs] [ramfs]   (default: native)
#   FSX=/path/fsx FSSTRESS=/path/fsstress bash scripts/conformance/fsx.sh native
#   (build of a checkout: apt-get install xfslibs-dev uuid-dev libattr1-dev libacl1-dev libaio-dev
#    libtool; make configure && ./configure && make -C lib && make -C ltp fsx fsstress)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(native)
FSX_OPS=${FSX_OPS:-50000}
FSSTRESS_OPS=${FSSTRESS_OPS:-5000}
FSSTRESS_PAR=${FSSTRESS_PAR:-4}
SEED=${SEED:-42}
[ "$(id -u)" = 0 ] || { echo "fsx.sh: run as root" >&2; exit 2; }
[ -f "$REPO/dist/cli/main.js" ] || { echo "fsx.sh: run npm run build first" >&2; exit 2; }
if [ -z "${FSX:-}" ] || [ -z "${FSSTRESS:-}" ]; then
  [ -n "${XFSTESTS_SRC:-}" ] || { echo "fsx.sh: set XFSTESTS_SRC (an xfstests checkout) or FSX and FSSTRESS (built binaries)" >&2; exit 2; }
  if [ ! -x "$XFSTESTS_SRC/ltp/fsx" ] || [ ! -x "$XFSTESTS_SRC/ltp/fsstress" ]; then
    echo "building fsx and fsstress in $XFSTESTS_SRC ..." >&2
    (cd "$XFSTESTS_SRC" && { [ -x configure ] || make configure >/dev/null; } && { [ -f include/builddefs ] || ./configure >/dev/null; } && make -C lib >/dev/null && make -C ltp fsx fsstress >/dev/null)
  fi
  FSX=${FSX:-$XFSTESTS_SRC/ltp/fsx}
  FSSTRESS=${FSSTRESS:-$XFSTESTS_SRC/ltp/fsstress}
fi

WORK=$(mktemp -d /tmp/mountie-fsx-XXXXXX)
MOUNTED=()
unmount_target() {
  case $1 in
    native | js) MOUNTIE_HOME="$WORK/home-$1" node "$REPO/dist/cli/main.js" stop fsx >/dev/null 2>&1 || true ;;
    bindfs) fusermount -u "$WORK/mnt-bindfs" 2>/dev/null || true ;;
    ramfs) RAMFS_HOME="$WORK/home-ramfs" node "$REPO/dist-examples/ramfs/cli.js" stop fsx >/dev/null 2>&1 || true ;;
  esac
}
cleanup() {
  [ -n "${FSX_KEEP:-}" ] && { echo "kept $WORK" >&2; for t in "${MOUNTED[@]}"; do [ -n "$t" ] && unmount_target "$t"; done; return; }
  for t in "${MOUNTED[@]}"; do [ -n "$t" ] && unmount_target "$t"; done
  grep -q " $WORK/" /proc/self/mountinfo || rm -rf "$WORK"
}
trap cleanup EXIT

NO_FS_SPECIFIC=(-f collapse=0 -f insert=0 -f fiemap=0 -f getattr=0 -f setattr=0 -f unshare=0)
# Per operation: drop inode numbers (the mount's are its own) and fsstress's own bookkeeping of them.
normalize() { sed -E 's/\[[0-9]+ ([0-9]+ [0-9]+ [0-9]+) [0-9]+ /[\1 /g; s/ino=[0-9]+//g; s/real ino [0-9]+/real ino/g' "$1"; }
manifest() { (cd "$1" && find . -printf '%y %M %s %n %p -> %l\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); }

# Profiles: full = everything a FUSE filesystem can answer; portable = also without fallocate,
# punch hole, zero range, copy range, xattrs, mknod and rename flags, which not every FUSE
# filesystem implements (fuse-native, before it left, had no mknod; libfuse 2 no rename flags).
profile_flags() {
  echo "${NO_FS_SPECIFIC[@]}"
  [ "$1" = portable ] && echo -f fallocate=0 -f punch=0 -f zero=0 -f copyrange=0 -f setfattr=0 -f getfattr=0 -f listfattr=0 -f removefattr=0 -f attr_set=0 -f attr_remove=0 -f setxattr=0 -f mknod=0 -f rnoreplace=0 -f rexchange=0 -f rwhiteout=0 -f resvsp=0 -f unresvsp=0 -f dread=0 -f dwrite=0 -f splice=0
  return 0
}
# The references: fsstress in a plain directory of the same filesystem.
for profile in full portable; do
  mkdir -p "$WORK/raw-$profile"
  # shellcheck disable=SC2046
  "$FSSTRESS" $(profile_flags $profile) -v -p 1 -n "$FSSTRESS_OPS" -s "$SEED" -d "$WORK/raw-$profile" >"$WORK/raw-$profile.log" 2>&1
  manifest "$WORK/raw-$profile" >"$WORK/raw-$profile.manifest"
done

# One sequential fsstress in the mount against its reference: "N op results / M tree entries differ".
compare_seq() {
  local name=$1 profile=$2 mnt=$3 src=$4
  mkdir "$mnt/seq-$profile"
  # shellcheck disable=SC2046
  "$FSSTRESS" $(profile_flags "$profile") -v -p 1 -n "$FSSTRESS_OPS" -s "$SEED" -d "$mnt/seq-$profile" >"$WORK/seq-$name-$profile.log" 2>&1 || true
  manifest "$src/seq-$profile" >"$WORK/seq-$name-$profile.manifest"
  local ref="$WORK/raw-$profile" op_diffs tree_diffs out
  op_diffs=$(diff <(normalize "$ref.log") <(normalize "$WORK/seq-$name-$profile.log") | grep -c '^>' || true)
  tree_diffs=$(diff "$ref.manifest" "$WORK/seq-$name-$profile.manifest" | grep -c '^>' || true)
  out="$op_diffs op results / $tree_diffs tree entries differ"
  if [ "$op_diffs" != 0 ]; then
    # The first divergence names the cause (later ones follow from it: fsstress picks its next
    # operations from what exists).
    out="$out; first: $(diff <(normalize "$ref.log") <(normalize "$WORK/seq-$name-$profile.log") | grep -m1 '^>' | cut -c3-90 | tr '|' '/' || true)"
  fi
  echo "$out"
}

# What served a native target, read before it stops: the FUSE session (the daemon log) and, from
# `mountie status --json`, whether the kernel passed files through (MOUNTIE_PASSTHROUGH=1 with
# MOUNTIE_SESSION=own) and how many opens it passed through: a run asked for passthrough proves
# it was on only with mode "on" and opens > 0.
describe_native() {
  local home=$1 session
  session=$(grep -o '"msg":"FUSE session: [^"]*' "$home/workspaces/fsx/daemon.log" 2>/dev/null | head -1 | cut -d' ' -f3- || true)
  case $session in
    our*) session="own session" ;;
    libfuse*) session="libfuse session" ;;
    *) session="session ?" ;;
  esac
  MOUNTIE_HOME=$home node "$REPO/dist/cli/main.js" status --json 2>/dev/null | node -e '
    let j; try { j = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch { j = {}; }
    const pt = j.workspaces?.[0]?.state?.backend?.passthrough;
    const s = process.argv[1];
    console.log(pt === undefined ? `${s}, passthrough ?` : pt.mode === "on" ? `${s}, passthrough on: ${pt.opens} opens, ${pt.fallbacks} opens served by the daemon` : `${s}, passthrough ${pt.mode}`);
  ' "$session"
}

run_target() {
  local name=$1 src="$WORK/src-$1" mnt="$WORK/mnt-$1" home="$WORK/home-$1"
  mkdir -p "$src" "$mnt"
  case $name in
    native) MOUNTIE_HOME=$home node "$REPO/dist/cli/main.js" mount fsx --source "$src" --at "$mnt" --background >/dev/null ;;
    bindfs) bindfs -o big_writes "$src" "$mnt" ;;
    ramfs)
      RAMFS_HOME=$home node "$REPO/dist-examples/ramfs/cli.js" mount fsx --at "$mnt" >/dev/null
      src=$mnt # its files live in the daemon: the tree is read back through the mount
      ;;
    *) echo "unknown target $name" >&2; return 2 ;;
  esac
  MOUNTED+=("$name")
  local t0=$SECONDS fsx_result par_result alive=yes
  if (cd "$mnt" && "$FSX" -q -N "$FSX_OPS" -S "$SEED" -P "$WORK" "fsx-$name" >"$WORK/fsx-$name.out" 2>&1); then
    fsx_result="$FSX_OPS ops OK"
  else
    fsx_result="FAILED (exit $?, $WORK/fsx-$name.out)"
  fi
  local full portable
  full=$(compare_seq "$name" full "$mnt" "$src")
  portable=$(compare_seq "$name" portable "$mnt" "$src")
  mkdir "$mnt/par"
  if "$FSSTRESS" -p "$FSSTRESS_PAR" -n "$FSSTRESS_OPS" -s "$SEED" -d "$mnt/par" >"$WORK/par-$name.log" 2>&1; then par_result="exit 0"; else par_result="exit $?"; fi
  # Still serving: a fresh file round-trips through the mount.
  echo alive >"$mnt/alive" && [ "$(cat "$src/alive")" = alive ] || alive=no
  local label=$name
  [ "$name" = native ] && label="native ($(describe_native "$home"))"
  printf '| %s | %s | %s | %s | %s | %s | %s s |\n' "$label" "$fsx_result" "$full" "$portable" "$par_result" "$alive" "$((SECONDS - t0))"
  unmount_target "$name"
  MOUNTED=("${MOUNTED[@]/$name}")
}

echo "| target | fsx (seed $SEED) | fsstress -p 1 -n $FSSTRESS_OPS vs ext4, full | the same, portable | fsstress -p $FSSTRESS_PAR -n $FSSTRESS_OPS | serving after | time |"
echo "|---|---|---|---|---|---|---:|"
for t in "${TARGETS[@]}"; do run_target "$t"; done
