#!/usr/bin/env node
// The `mountie` command. CommonJS on purpose: libuv reads UV_THREADPOOL_SIZE once, when its pool
// first starts, and the ESM loader starts it while reading the entry file. Here nothing has used
// the pool yet, so a foreground daemon gets the same pool as one the launcher spawns (see
// src/launcher/start.ts); then the real entry is loaded. `npm run build` bundles this file with the
// whole CLI into dist/cli/bin.cjs (scripts/bundle.mjs): both imports below are then functions of
// the same file, run only when chosen.
// Only where a daemon may run in this process (`mount` in the foreground): libuv starts every
// pool thread at its first use and waits for each, ~25 ms of CPU for 64 on a loaded 2-core machine,
// which `status`, `stop` and a launcher (whose daemon gets 64 from src/launcher/start.ts) would pay
// for nothing (BENCHMARKS.md, issue 18). An unknown command keeps 64: the safe side.
const NO_DAEMON_HERE = new Set(['status', 'stop', 'umount', 'unmount', 'start', 'restart', 'forget', 'logs', 'doctor', 'unit', 'completion', '__workspaces']);
const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
const daemonHere = command === undefined ? false : command === 'mount' ? !process.argv.includes('--background') : !NO_DAEMON_HERE.has(command);
if (daemonHere) process.env.UV_THREADPOOL_SIZE ??= '64';
// Completion's workspace lister runs on every Tab: it skips loading the whole CLI.
void (process.argv[2] === '__workspaces' && process.argv.length === 3 ? import('./workspaces-entry.js') : import('./main.js'));
