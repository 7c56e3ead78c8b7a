#!/usr/bin/env node
// The `mountie` command. CommonJS on purpose: libuv reads UV_THREADPOOL_SIZE once, when its pool
// first starts, and the ESM loader starts it while reading the entry file. Here nothing has used
// the pool yet, so a foreground daemon gets the same pool as one the launcher spawns (see
// src/launcher/start.ts); then the real entry is loaded. `npm run build` bundles this file with the
// whole CLI into dist/cli/bin.cjs (scripts/bundle.mjs): both imports below are then functions of
// the same file, run only when chosen.
process.env.UV_THREADPOOL_SIZE ??= '64';
// Completion's workspace lister runs on every Tab: it skips loading the whole CLI.
void (process.argv[2] === '__workspaces' && process.argv.length === 3 ? import('./workspaces-entry.js') : import('./main.js'));
