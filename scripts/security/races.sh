#!/usr/bin/env bash
# The security races of issue "A root daemon with --allow-other hands out root", each for 60 s or
# 1M tries (test/integration/security-races.test.ts in its long profile; the suite runs the same
# file with a short bound). As root, through the real CLI: a source holding pub/ (1777) mounted
# with `mountie mount s --source SRC --allow-other --background` on the native core; every
# attacker step runs as uid 65534 (the other user's steps as 65533) from test/fixtures/race-*.py:
#   create/symlink   open(O_CREAT) through the mount while the name flips to a symlink to a root
#                    0600 file beside the mount: the file must stay root's, unchanged;
#   mknod/setuid     mknod(S_IFREG|04755) through the mount while the new name is swapped for a
#                    symlink to a root executable: it must never turn set-id;
#   create/takeover  open(O_CREAT) through the mount never takes a file another user put in pub/;
# the first two in pub/ and in a directory the attacker owns in it; and the POSIX ACL checks.
# Every race logs its tries, seconds and outcome ([race long] lines). Root and the native addon
# only (the tests skip otherwise); python3 at /usr/bin/python3 (or on PATH for uid 65534).
#
#   bash scripts/security/races.sh                  build, then run the long profile
#   MOUNTIE_RACE_PROFILE=short bash scripts/security/races.sh   the suite's bounds
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "races.sh: run as root (the daemon under attack is a root daemon)" >&2; exit 2; }
npm run build --silent
[ -e native/build/Release/mountie_native.node ] || node scripts/build-native.mjs
# uid 65534 must reach the test's homes: the test session's directory (0755) is made inside TMPDIR,
# which must be searchable by others too; without one, a fresh 0755 directory under /tmp.
made=""
if [ -z "${TMPDIR:-}" ]; then
  TMPDIR=$(mktemp -d /tmp/mountie-races-XXXX)
  made=$TMPDIR
  chmod 755 "$TMPDIR"
  export TMPDIR
fi
rc=0
MOUNTIE_RACE_PROFILE=${MOUNTIE_RACE_PROFILE:-long} npx vitest run test/integration/security-races.test.ts || rc=$?
[ -z "$made" ] || rmdir "$made" 2>/dev/null || true
exit $rc
