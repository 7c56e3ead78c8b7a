#!/usr/bin/env bash
# Runs the native data path's integration tests against sanitizer builds of the addon.
#
#   scripts/sanitize.sh [asan] [tsan]      (default: both, in that order)
#
# For each variant it builds native/src with node-gyp into a directory of its own (a copy of
# native/binding.gyp and native/src below $SANITIZE_OUT, default native/build-san/<variant>;
# native/build/Release is never touched), then runs the test files in $SANITIZE_TESTS with
# MOUNTIE_NATIVE_ADDON pointing at that build, so that every daemon the CLI or a fixture spawns
# loads it (src/daemon/native/binding.ts).
#   asan: -fsanitize=address,undefined -fno-omit-frame-pointer -O1 -g
#   tsan: -fsanitize=thread -O1 -g
# Node itself is not instrumented, so every node process of the run gets the sanitizer runtime
# through LD_PRELOAD (it must come first in the process's libraries; a process that never loads
# the addon only pays the interceptors). Reports go to files, one per process, under
# <variant dir>/reports (the daemons' stderr is a log file nobody reads):
#   ASAN_OPTIONS  detect_leaks=0 (node's own allocations at exit are no finding), abort_on_error=0
#                 (exit with an error instead of a core), log_path=reports/asan,
#                 allow_user_segv_handler=0 (node installs its own SIGSEGV handler for WebAssembly
#                 traps, which takes over from ASan's: a crash would then kill the daemon with no
#                 report; with this, ASan keeps SIGSEGV and reports where it happened)
#   UBSAN_OPTIONS print_stacktrace=1, log_path=reports/ubsan (UBSan continues after a report)
#   TSAN_OPTIONS  log_path=reports/tsan, report_signal_unsafe=0 (node's signal handlers call
#                 malloc), exitcode=0 (a report must not change a daemon's exit code, which the
#                 tests assert; reports are counted from the files instead),
#                 ignore_noninstrumented_modules=1 (interceptors called from node, libuv, V8 or
#                 libfuse report nothing: only the addon is instrumented, and their own
#                 synchronisation is invisible to TSan, so those reports would be noise),
#                 allow_user_segv_handler=0 (as for ASan: a crash is reported, with its stack),
#                 suppressions=scripts/sanitize-tsan.supp (each entry says why).
# TSan and ASLR: gcc 12's TSan needs the kernel's mmap randomisation at most 30 bits
# (vm.mmap_rnd_bits; 28 here, on 6.18, and TSan runs without help). The script checks with a
# one-line node under TSan and, only if that fails, runs the variant under `setarch -R`.
# TSan preloaded into a program that is not instrumented at all (sh, bash, python3: everything a
# test spawns besides node) crashes it at its first setjmp: gcc 12's _setjmp interceptor jumps to
# a real function that is only looked up once TSan initialised, and nothing initialised it yet.
# So the tsan variant also preloads tsan-init.so, an empty instrumented library whose module
# constructor initialises TSan before main. Vitest is started as `node node_modules/vitest/vitest.mjs`.
# Only tests whose name matches $SANITIZE_FILTER run (vitest -t; default: every test of the files,
# since every data path is the native core's now).
#
# Environment:
#   SANITIZE_TESTS   test files (default: native, deadline, deadline-heal, data-path, native-handles and
#                    security-races integration tests: the watchdog cases and the local-attacker races;
#                    ops-faults, examples-ramfs, hard-links and ops-session: the JS-ops mode, jsfs.c, jsnodes.c,
#                    jsbridge.c, jslfops.c, on both sessions;
#                    native-umount: umount.c; source-watch: notify.c; own-session: our own FUSE
#                    session and kernel passthrough, own.c, reply.c, backing.c; native-ids: the id
#                    tables, ids.c, handles.c, and their snapshot; native-handover: the live
#                    handover, handover.c, loop_pause/resume, ids_place)
#   SANITIZE_OUT     where the builds and reports go (default native/build-san)
#   SANITIZE_TIMEOUT_S  bound on one variant's test run (default 1800)
#   SANITIZE_FILTER  vitest -t pattern (default empty: every test of the files)
# Needs root (the tests mount for real) and gcc's sanitizer runtimes (libgcc-<major>-dev: libasan,
# libubsan, libtsan; installed with apt-get when missing). Builds dist/ first (the tests run it).
# Prints a summary: per variant, tests passed/failed, sanitizer reports and their files, and the
# time taken. Exit 0 only when every test passed and no sanitizer report was written.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

VARIANTS=("$@")
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(asan tsan)
for v in "${VARIANTS[@]}"; do
  case "$v" in asan | tsan) ;; *) echo "sanitize: unknown variant $v (asan, tsan)" >&2; exit 2 ;; esac
done
TESTS=${SANITIZE_TESTS:-test/integration/native.test.ts test/integration/deadline.test.ts test/integration/deadline-heal.test.ts test/integration/data-path.test.ts test/integration/native-handles.test.ts test/integration/security-races.test.ts test/integration/ops-faults.test.ts test/integration/examples-ramfs.test.ts test/integration/hard-links.test.ts test/integration/ops-session.test.ts test/integration/native-umount.test.ts test/integration/source-watch.test.ts test/integration/own-session.test.ts test/integration/native-ids.test.ts test/integration/native-handover.test.ts}
OUT=${SANITIZE_OUT:-$REPO/native/build-san}
TIMEOUT_S=${SANITIZE_TIMEOUT_S:-1800}
FILTER=${SANITIZE_FILTER-}
FILTER_ARGS=()
[ -z "$FILTER" ] || FILTER_ARGS=(-t "$FILTER")
SUPP=$REPO/scripts/sanitize-tsan.supp

die() { echo "sanitize: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "run as root: the tests mount FUSE filesystems"
pkg-config --exists fuse3 || die "libfuse3 development files missing (pkg-config fuse3): run npm run setup"
GYP=""
for p in "$(dirname "$(dirname "$(command -v node)")")/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js /usr/share/nodejs/node-gyp/bin/node-gyp.js; do
  [ -f "$p" ] && { GYP=$p; break; }
done
[ -n "$GYP" ] || die "node-gyp not found (it ships with npm)"
NODEDIR=${npm_config_nodedir:-$([ -f /usr/include/node/node_api.h ] && echo /usr || dirname "$(dirname "$(command -v node)")")}

# gcc -print-file-name answers the bare name when the library is not installed.
runtime() { local p; p=$(gcc -print-file-name="$1"); [ "${p#/}" != "$p" ] && [ -e "$p" ] && echo "$p"; }
if ! runtime libasan.so >/dev/null || ! runtime libubsan.so >/dev/null || ! runtime libtsan.so >/dev/null; then
  pkg="libgcc-$(gcc -dumpversion | cut -d. -f1)-dev"
  echo "sanitize: installing $pkg (gcc's sanitizer runtimes)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" libasan8 libubsan1 libtsan2 >/dev/null || die "could not install $pkg"
fi
ASAN_RT=$(runtime libasan.so) && UBSAN_RT=$(runtime libubsan.so) && TSAN_RT=$(runtime libtsan.so) || die "gcc's sanitizer runtimes are missing"

echo "sanitize: building dist/" >&2
npm run build --silent || die "npm run build failed"

# Tests that run steps as uid 65534 need a temporary directory nobody can reach.
TMPDIR=$(mktemp -d /tmp/mt-san-XXXX) && chmod 755 "$TMPDIR" && export TMPDIR

declare -A SUMMARY
status=0

build_variant() { # <variant> <dir> <flags>
  local v=$1 dir=$2 flags=$3
  rm -rf "$dir" && mkdir -p "$dir" && cp -r native/binding.gyp native/src "$dir/" || return 1
  # node-gyp compiles ../src/*.c from build/: name them by their real path in the reports. The
  # Makefile puts CFLAGS after binding.gyp's (and common.gypi's) flags, so -O1 wins over -O2/-O3.
  (cd "$dir" && CFLAGS="$flags -ffile-prefix-map=../src=$REPO/native/src" LDFLAGS="${flags%% *}" \
    node "$GYP" rebuild --nodedir="$NODEDIR" --loglevel=warn >"$dir/build.log" 2>&1)
}

# Counts reports in the variant's report files; sets REPORTS, IN_ADDON, FILES.
count_reports() { # <reports dir>
  REPORTS=0 IN_ADDON=0 FILES=""
  local f n a
  for f in "$1"/*; do
    [ -f "$f" ] || continue
    n=$(grep -cE '^==[0-9]+==ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|^WARNING: ThreadSanitizer:' "$f")
    [ "$n" -gt 0 ] || continue
    # A report that names native/src involves the addon's code; the others are listed all the same.
    a=$(awk -v src="$REPO/native/src/" '/^==[0-9]+==ERROR|runtime error:|^WARNING: ThreadSanitizer:/ { if (r) c += hit; r = 1; hit = 0 } index($0, src) { hit = 1 } END { if (r) c += hit; print c + 0 }' "$f")
    REPORTS=$((REPORTS + n)) IN_ADDON=$((IN_ADDON + a))
    FILES+="      $f: $n report(s), $a naming native/src: $(grep -m1 -oE 'SUMMARY: [A-Za-z]+Sanitizer: .*|runtime error: .*' "$f")"$'\n'
  done
}

for v in "${VARIANTS[@]}"; do
  dir=$OUT/$v
  case $v in
    asan) flags="-fsanitize=address,undefined -fno-omit-frame-pointer -O1 -g"; preload="$ASAN_RT:$UBSAN_RT" ;;
    tsan) flags="-fsanitize=thread -O1 -g"; preload="$TSAN_RT:$dir/tsan-init.so" ;;
  esac
  echo "sanitize: [$v] building the addon in $dir" >&2
  t0=$SECONDS
  if ! build_variant "$v" "$dir" "$flags"; then
    tail -20 "$dir/build.log" >&2
    SUMMARY[$v]="  $v: build FAILED (see $dir/build.log)"$'\n'
    status=1
    continue
  fi
  if [ "$v" = tsan ]; then
    # See the header: initialises TSan before main in programs that are not instrumented.
    echo 'void mountie_tsan_init(void) {}' >"$dir/tsan-init.c"
    gcc -shared -fPIC -fsanitize=thread -O1 -o "$dir/tsan-init.so" "$dir/tsan-init.c" || die "could not build $dir/tsan-init.so"
  fi
  build_s=$((SECONDS - t0))
  reports=$dir/reports
  mkdir -p "$reports" && chmod 1777 "$reports"
  wrap=()
  if [ "$v" = tsan ] && ! LD_PRELOAD=$preload node -e 0 >/dev/null 2>&1; then
    LD_PRELOAD=$preload setarch -R node -e 0 >/dev/null 2>&1 || die "node does not start under TSan, even with ASLR off"
    echo "sanitize: [tsan] TSan needs ASLR off here: running under setarch -R" >&2
    wrap=(setarch -R)
  fi
  echo "sanitize: [$v] running $TESTS (log: $dir/vitest.log)" >&2
  t1=$SECONDS
  # shellcheck disable=SC2086 # TESTS is a list of paths
  env LD_PRELOAD="$preload" MOUNTIE_NATIVE_ADDON="$dir/build/Release/mountie_native.node" \
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:allow_user_segv_handler=0:log_path=$reports/asan" \
    UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan" \
    TSAN_OPTIONS="log_path=$reports/tsan:report_signal_unsafe=0:exitcode=0:ignore_noninstrumented_modules=1:allow_user_segv_handler=0:suppressions=$SUPP" \
    timeout --kill-after=30 "$TIMEOUT_S" "${wrap[@]}" node node_modules/vitest/vitest.mjs run \
    --reporter=default --reporter=json --outputFile.json="$dir/results.json" \
    --testTimeout=180000 --hookTimeout=180000 "${FILTER_ARGS[@]}" $TESTS 2>&1 | tee "$dir/vitest.log"
  rc=${PIPESTATUS[0]}
  test_s=$((SECONDS - t1))
  counts=$(node -e 'try { const r = require(process.argv[1]); console.log(`${r.numPassedTests} ${r.numFailedTests} ${r.numPendingTests + r.numTodoTests}`) } catch { console.log("? ? ?") }' "$dir/results.json")
  read -r passed failed skipped <<<"$counts"
  count_reports "$reports"
  line="  $v: tests passed $passed, failed $failed, skipped $skipped (vitest exit $rc); sanitizer reports $REPORTS ($IN_ADDON naming native/src); build ${build_s}s, tests ${test_s}s"
  [ ${#wrap[@]} -gt 0 ] && line+=" (under setarch -R)"
  SUMMARY[$v]="$line"$'\n'"$FILES"
  { [ "$rc" -eq 0 ] && [ "$failed" = 0 ] && [ "$REPORTS" -eq 0 ]; } || status=1
done

rm -rf "$TMPDIR"
echo
echo "sanitize summary:"
for v in "${VARIANTS[@]}"; do printf '%s' "${SUMMARY[$v]:-  $v: not run}"; done
[ $status -eq 0 ] && echo "sanitize: clean" || echo "sanitize: FAILED (failed tests or sanitizer reports above)"
exit $status
