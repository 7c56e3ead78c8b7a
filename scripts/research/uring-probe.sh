#!/usr/bin/env bash
# Runs scripts/research/uring-probe.c's rounds (root): per round, read(2) with enable_uring=N, then
# read(2) and io_uring with enable_uring=Y. The module parameter is machine-wide: it is Y only
# around the two runs that need it, and the trap puts it back to N on every exit (a crash of the
# probe included); mountie never sets it. Each round also runs read-x and uring-x (each request
# handed to another thread, which sends the reply); after the rounds, one uring-handover run (a second ring takes over
# from a closed first one) and the two uring-stuck runs (a queue's thread blocked in an op: 3 s
# asleep, or 3 s waiting for a second mount of the probe's own). Usage:
# uring-probe.sh [rounds=5] [stats] [ios]   (rounds 0: only the handover and stuck runs)
set -u
rounds=${1:-5}; stats=${2:-100000}; ios=${3:-20000}
param=/sys/module/fuse/parameters/enable_uring
here=$(cd "$(dirname "$0")" && pwd)
bin=$(mktemp -d /tmp/uring-probe.XXXXXX); mnt="$bin/mnt"; mkdir "$mnt"
before=$(cat "$param")
[ "$before" = N ] || { echo "enable_uring is $before before the run; not touching it" >&2; exit 1; }
cleanup() {
  echo N > "$param"
  for m in "$mnt" "$mnt-hang"; do grep -q " $m " /proc/self/mountinfo && umount -l "$m"; done
  rm -rf "$bin"
  echo "enable_uring restored to $(cat "$param")" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM
gcc -O2 -Wall -Wextra "$here/uring-probe.c" -luring -lpthread -o "$bin/uring-probe" || exit 1
run() { # $1 param value, $2 transport
  echo "$1" > "$param"
  echo "# round=$r enable_uring=$1 loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
  timeout -k 5 300 "$bin/uring-probe" "$mnt" "$2" 2 "$stats" "$ios" 2>&1 | sed "s/^/enable_uring=$1 /"
  echo N > "$param"
  for m in "$mnt" "$mnt-hang"; do grep -q " $m " /proc/self/mountinfo && umount -l "$m"; done
}
for r in $(seq 1 "$rounds"); do
  run N read
  run Y read
  run Y read-x
  run Y uring
  run Y uring-x
done
r=handover; run Y uring-handover
r=stuck; run Y uring-stuck-sleep; run Y uring-stuck-fuse
