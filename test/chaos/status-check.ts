/**
 * `mountie status --json` must agree with /proc and mountinfo. The world is snapshotted before
 * and after the call; if it moved meanwhile the call is retried (bounded), so a comparison is
 * only ever made against a world that stood still while status looked at it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { liveDaemons, type LiveDaemon } from './daemons.js';
import { describePid, readMounts, taggedMountAt } from './procfs.js';
import { runCall, type CallResult } from './run.js';
import { byWs } from './invariants.js';
import { mpOf, wsDir, type World } from './world.js';

interface WsStatus {
  workspace: string;
  tokens: string[];
  mounted: boolean;
  daemon?: { pid: number };
  orphans?: { pid: number }[];
}

interface Snap {
  readonly per: Map<string, LiveDaemon[]>;
  readonly mounted: Map<string, number | undefined>;
  readonly key: string;
}

async function snap(w: World): Promise<Snap> {
  const per = byWs(w, await liveDaemons(w.view));
  const mounts = await readMounts();
  const mounted = new Map(w.view.names.map((n) => [n, taggedMountAt(mounts, mpOf(w, n), n)?.id]));
  const key = JSON.stringify([[...per].map(([k, v]) => [k, v.map((d) => `${d.pid}:${d.state}`)]), [...mounted]]);
  return { per, mounted, key };
}

const LEFTOVER = /^(orphan|stale-pidfile|stale-mount)/;
const NAMED = /^(running|starting|stopping|orphan)\(pid=(\d+)\)$/;

async function compare(w: World, s: Snap, r: CallResult): Promise<string[]> {
  const bad: string[] = [];
  let doc: { schema?: string; workspaces?: WsStatus[] };
  try {
    doc = JSON.parse(r.stdout) as typeof doc;
  } catch {
    return [`status --json printed no JSON (exit ${r.exitCode}): ${r.stdout.slice(0, 300)} ${r.stderr.trim()}`];
  }
  if (doc.schema !== 'mountie.status/v1') bad.push(`status --json schema is ${doc.schema}`);
  const list = doc.workspaces ?? [];
  for (const ws of w.view.names) {
    const live = s.per.get(ws) ?? [];
    const mount = s.mounted.get(ws);
    const e = list.find((x) => x.workspace === ws);
    if (!e) {
      if (live.length || mount !== undefined) bad.push(`status does not list ${ws}, which has ${live.length} daemon(s) and ${mount !== undefined ? 'a' : 'no'} mount`);
      continue;
    }
    const tokens = e.tokens.join(' ');
    for (const t of e.tokens) {
      const m = NAMED.exec(t);
      if (m && !live.some((d) => d.pid === Number(m[2]))) bad.push(`status says ${ws} ${t}, but pid ${m[2]} is not a live daemon of ${ws} (live: ${live.map((d) => d.pid).join(',') || 'none'}); ${await describePid(Number(m[2]))}`);
    }
    for (const d of live) {
      const t = e.tokens.find((x) => NAMED.exec(x)?.[2] === String(d.pid));
      if (!t) bad.push(`status does not show ${ws}'s live daemon pid ${d.pid}: ${tokens}`);
      else if (t.startsWith('orphan') && !w.tampered.has(ws)) bad.push(`status calls ${ws}'s daemon pid ${d.pid} an orphan though its pidfile was never touched: ${tokens}`);
    }
    if (e.mounted !== (mount !== undefined)) bad.push(`status says ${ws} mounted=${e.mounted}, mountinfo says ${mount !== undefined}`);
    if (live.length === 0 && mount !== undefined && !e.tokens.includes('stale-mount')) bad.push(`${ws} is mounted with no live daemon, status says: ${tokens}`);
    if (live.length === 0 && mount === undefined) {
      const pidfile = existsSync(join(wsDir(w, ws), 'daemon.pid'));
      const ok = e.tokens.every((t) => t === 'stopped' || (pidfile && t.startsWith('stale-pidfile')));
      if (!ok) bad.push(`${ws} has no daemon and no mount, status says: ${tokens}`);
    }
  }
  const leftovers = list.some((x) => x.tokens.some((t) => LEFTOVER.test(t)));
  if (r.exitCode !== (leftovers ? 1 : 0)) bad.push(`status exited ${r.exitCode} but the README says ${leftovers ? 1 : 0} for: ${list.map((x) => `${x.workspace} ${x.tokens.join(' ')}`).join('; ')}`);
  return bad;
}

/** Run `status --json` until the world stood still during the call (≤ 4 tries), then compare. */
export async function checkStatus(w: World): Promise<{ problems: string[]; calls: CallResult[] }> {
  const calls: CallResult[] = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    const before = await snap(w);
    const r = await runCall({ cli: w.cli, home: w.home, args: ['status', '--json'] });
    calls.push(r);
    const after = await snap(w);
    if (before.key === after.key) return { problems: await compare(w, before, r), calls };
    await new Promise((res) => setTimeout(res, 300));
  }
  return { problems: ['the home kept changing while status ran (4 tries): nothing should move between steps'], calls };
}
