/**
 * The invariants checked after every chaos step, from the outside (/proc, mountinfo, the files of
 * the home, the CLI's own answers). Each returns the problems it found, in words that name the
 * pids and workspaces involved.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runBounded } from '../helpers/stuck.js';
import { labelled, sessionless, unsettled, type LiveDaemon } from './daemons.js';
import { describePid, readMounts, statOf, taggedMountAt, type Mount } from './procfs.js';
import type { CallResult } from './run.js';
import { mpOf, wsDir, type World } from './world.js';
import type { Outcome } from './execute.js';

const SETTLE_MS = 10_000;
const STACK = /^\s+at .+:\d+:\d+\)?$/m;

/** Wait (bounded) until no process of the home is half-way: launching, starting, unmounting. */
export async function settle(w: World): Promise<string[]> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const mounts = await readMounts();
    const mounted = new Set(w.view.names.filter((n) => taggedMountAt(mounts, mpOf(w, n), n)));
    // Both questions of one look at the home's processes (two looks cost twice: daemons.ts labelled).
    const all = await labelled(w.view);
    const left = [...(await unsettled(w.view, new Set(), all)), ...(await sessionless(w.view, mounted, all))];
    if (left.length === 0) return [];
    if (Date.now() > deadline) {
      const why = await Promise.all(left.map((s) => describePid(s.pid)));
      // Typically a daemon that lost its mount (so holds no /dev/fuse) but runs on, or a start that hangs.
      return [`the home did not settle within ${SETTLE_MS} ms: a process of the home neither holds /dev/fuse nor exited (a daemon running on without its mount or its FUSE session, or a hung start): ${why.join('; ')}`];
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function checkCalls(calls: readonly CallResult[]): string[] {
  const bad: string[] = [];
  for (const r of calls) {
    const what = `mountie ${r.call.args.join(' ')}`;
    if (r.timedOut) bad.push(`${what} hung (no exit within its bound)`);
    else if (r.signal) bad.push(`${what} died by ${r.signal}, which the test never sent: someone signalled a CLI call`);
    else if (r.exitCode === 70) bad.push(`${what} exited 70 (internal error): ${r.stderr.trim()}`);
    // Only the CLI's own words: a failed start quotes the daemon's log, whose lines may hold a stack.
    if (STACK.test(r.stderr.split('last log lines')[0] ?? '')) bad.push(`${what} printed a stack trace: ${r.stderr.trim()}`);
  }
  return bad;
}

export async function checkForeign(w: World): Promise<string[]> {
  const bad: string[] = [];
  const mounts = await readMounts();
  const present: string[] = [];
  for (const f of w.foreign) {
    const st = await statOf(f.pid);
    if (!st || st.startTime !== f.startTime || st.state === 'Z') bad.push(`the foreign home's ${f.ws} daemon (pid ${f.pid}) was killed`);
    else if (st.state === 'T' || st.state === 't') bad.push(`the foreign home's ${f.ws} daemon (pid ${f.pid}) was stopped`);
    const m = mounts.find((x) => x.id === f.mountId);
    if (!m || m.mountPoint !== f.mountPoint) bad.push(`the foreign home's ${f.ws} mount (id ${f.mountId}) at ${f.mountPoint} is gone`);
    else present.push(f.mountPoint);
  }
  if (present.length === 0) return bad;
  // From a child, bounded: a wedged mount must fail the check, not hang the test's thread.
  const r = await runBounded('stat', ['-c', '%i', ...present], { timeoutMs: 5000 }).catch((e: Error) => e);
  if (r instanceof Error) bad.push(`a foreign home's mount does not answer: ${r.message}`);
  else if (r.code !== 0) bad.push(`a foreign home's mount answers stat with an error: ${r.stderr.trim()}`);
  return bad;
}

export function byWs(w: World, ds: readonly LiveDaemon[]): Map<string, LiveDaemon[]> {
  const m = new Map<string, LiveDaemon[]>(w.view.names.map((n) => [n, []]));
  for (const d of ds) m.get(d.ws ?? '?')?.push(d);
  return m;
}

export function checkOnePerWs(w: World, ds: readonly LiveDaemon[]): string[] {
  const bad: string[] = [];
  for (const [ws, list] of byWs(w, ds)) {
    if (list.length > 1) bad.push(`${list.length} live daemons for ${ws}: ${list.map((d) => `pid ${d.pid} (MOUNTIE_HOME=${d.home})`).join(', ')}`);
  }
  for (const d of ds.filter((x) => x.ws === undefined)) bad.push(`daemon pid ${d.pid} of the home serves no known workspace`);
  return bad;
}

export function checkPromises(w: World, out: Outcome, ds: readonly LiveDaemon[], mounts: readonly Mount[]): string[] {
  const bad: string[] = [];
  const per = byWs(w, ds);
  for (const ws of out.mountOk) {
    const n = per.get(ws)?.length ?? 0;
    if (n !== 1) bad.push(`mount ${ws} exited 0 but ${n} daemons of it are live`);
    if (!taggedMountAt(mounts, mpOf(w, ws), ws)) bad.push(`mount ${ws} exited 0 but nothing is mounted at ${mpOf(w, ws)}`);
  }
  for (const ws of out.nothingLeft) {
    const left = per.get(ws) ?? [];
    if (left.length) bad.push(`stop ${ws} exited 0 but daemon(s) ${left.map((d) => `${d.pid} (MOUNTIE_HOME=${d.home})`).join(', ')} live on`);
    const m = taggedMountAt(mounts, mpOf(w, ws), ws);
    if (m) bad.push(`stop ${ws} exited 0 but ${m.source} is still mounted at ${m.mountPoint}`);
  }
  return bad;
}

export async function checkCursors(w: World): Promise<string[]> {
  const bad: string[] = [];
  for (const ws of w.view.names) {
    const file = join(wsDir(w, ws), 'state.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      // No state.json yet: nothing to check.
      continue;
    }
    let cursor: unknown;
    try {
      cursor = (JSON.parse(text) as { cursor?: unknown }).cursor;
    } catch (err) {
      bad.push(`${file} does not parse: ${(err as Error).message}`);
      continue;
    }
    if (typeof cursor !== 'number') {
      bad.push(`${file} has no numeric cursor: ${String(cursor)}`);
      continue;
    }
    const last = w.cursors.get(ws) ?? 0;
    if (cursor < last) bad.push(`${ws}: state.json cursor went back from ${last} to ${cursor}`);
    w.cursors.set(ws, Math.max(last, cursor));
  }
  return bad;
}

