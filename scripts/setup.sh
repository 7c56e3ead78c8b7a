#!/usr/bin/env bash
# Installs what mountie needs on a fresh Debian/Ubuntu machine, only what is missing:
# fuse3 (libfuse3 and fusermount3: what the native core needs at run time), the npm dependencies,
# what the native core builds with (libfuse3-dev, pkg-config, a C toolchain, python3 for node-gyp),
# and libfuse2 for the benchmarks' fuse-native peer (a devDependency; the package does not use it);
# then it builds the native addon. When that fails setup says so: nothing can mount without it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# grep without -q reads all of ldconfig's output: with pipefail, -q's early exit SIGPIPEs ldconfig and
# the check fails at random (an apt install every few runs).
ldconfig -p 2>/dev/null | grep 'libfuse\.so\.2' >/dev/null || need_apt+=(libfuse2)
command -v fusermount >/dev/null 2>&1 || command -v fusermount3 >/dev/null 2>&1 || need_apt+=(fuse3)
need_native=()
pkg-config --exists fuse3 2>/dev/null || need_native+=(libfuse3-dev)
command -v pkg-config >/dev/null 2>&1 || need_native+=(pkg-config)
{ command -v cc >/dev/null && command -v c++ >/dev/null && command -v make >/dev/null; } 2>/dev/null || need_native+=(build-essential)
command -v python3 >/dev/null 2>&1 || need_native+=(python3)
if [ ${#need_apt[@]} -gt 0 ] || [ ${#need_native[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
  if [ ${#need_native[@]} -gt 0 ]; then
    echo "setup: installing ${need_native[*]} (native data path)" >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_native[@]}" >/dev/null ||
      echo "setup: could not install ${need_native[*]}: the native data path will not build" >&2
  fi
fi
if [ ! -e /dev/fuse ]; then
  echo "setup: /dev/fuse is missing: load the fuse module (modprobe fuse) or run where FUSE is available" >&2
  exit 1
fi
# npm ci only when the installed tree is missing or older than the lockfile, and never through a
# symlinked node_modules: npm ci empties the directory it points to (a tree other checkouts share).
if [ -L node_modules ]; then
  [ -d node_modules ] || { echo "setup: node_modules is a dangling symlink: fix or remove it" >&2; exit 1; }
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
# The native addon: rebuilt when missing or older than its sources. A failure is not fatal.
addon=native/build/Release/mountie_native.node
if [ ! -f "$addon" ] || [ -n "$(find native/src native/binding.gyp -newer "$addon" 2>/dev/null | head -1)" ]; then
  echo "setup: building the native data path (npm run build:native)" >&2
  if ! node scripts/build-native.mjs >/dev/null 2>native/build-error.log; then
    echo "setup: the native addon did not build (see native/build-error.log); nothing can mount until it does (mountie doctor says what is missing)" >&2
  else
    rm -f native/build-error.log
  fi
fi
# `mountie` on PATH: printed, never installed. `npm link` would write into npm's global prefix,
# which every user and every checkout on this machine shares: one clone's link silently repoints
# everybody's `mountie` at it. An alias changes nothing outside this shell.
if ! command -v mountie >/dev/null 2>&1; then
  echo "setup: \`mountie\` is not on your PATH. In this clone: npx mountie <command>. In your shell:" >&2
  echo "         alias mountie='node $PWD/dist/cli/bin.cjs'   (add it to ~/.bashrc to keep it)" >&2
  echo "       on a machine of your own, npm link makes it global for every user instead" >&2
fi
