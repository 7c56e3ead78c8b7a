#!/usr/bin/env bash
# Measurement only: one whole run of the suite with per-file figures.
# Usage: scripts/test-profile/run.sh OUTDIR [vitest args...]
# OUTDIR gets: files.jsonl (per file: wall, worker CPU, reaped children's CPU), vitest.json (vitest's
# own per-file durations), time.txt (/usr/bin/time -v of the runner), machine.txt (load, the
# machine's busy CPU seconds and forks during the run: other jobs on the machine count there too).
set -uo pipefail
out=$1; shift
mkdir -p "$out"; rm -f "$out/files.jsonl"
busy() { awk '/^cpu /{print ($2+$3+$4+$7+$8)/100}' /proc/stat; }
forks() { awk '/^processes/{print $2}' /proc/stat; }
{ date -u +%FT%TZ; cat /proc/loadavg; } > "$out/machine.txt"
b0=$(busy); f0=$(forks); t0=$(date +%s.%N)
TEST_PROFILE_OUT="$out/files.jsonl" /usr/bin/time -v -o "$out/time.txt" npx vitest run -c scripts/test-profile/config.ts \
  --reporter=default --reporter=json --outputFile.json="$out/vitest.json" "$@" > "$out/stdout.txt" 2>&1
rc=$?
t1=$(date +%s.%N); b1=$(busy); f1=$(forks)
{ echo "rc $rc"; echo "wall $(echo "$t1 - $t0" | bc)"; echo "machine_busy_cpu_s $(echo "$b1 - $b0" | bc)"; echo "forks $((f1 - f0))"; date -u +%FT%TZ; cat /proc/loadavg; } >> "$out/machine.txt"
cat "$out/machine.txt"
