#!/usr/bin/env node
// The `mountie` command. CommonJS on purpose: libuv reads UV_THREADPOOL_SIZE once, when its pool
// first starts, and the ESM loader starts it while reading the entry file. Here nothing has used
// the pool yet, so a foreground daemon gets the same pool as one the launcher spawns (see
// src/launcher/start.ts); then the real entry is loaded.
process.env.UV_THREADPOOL_SIZE ??= '64';
void import('./main.js');
