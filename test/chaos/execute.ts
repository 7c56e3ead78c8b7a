/**
 * Carrying out one chaos step against the world. A step reports what it did (`log`), every CLI
 * call it made, what its results promise (`mountOk`: a mount that exited 0 alone, so exactly one
 * daemon and a mount must be there; `nothingLeft`: a stop that exited 0 with no mount racing it)
 * and the problems it saw itself (a hang, a wrong exit code).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runBounded } from '../helpers/stuck.js';
import { liveDaemons, type LiveDaemon } from './daemons.js';
import type { Op, Step, Via } from './plan.js';
import { describePid, readMounts, statOf, taggedMountAt } from './procfs.js';
import { describeCall, exitWithin, outputMatches, outputOf, runCall, spawnCall, type Call, type CallResult } from './run.js';
import { mpOf, srcOf, SQUATTED, wsDir, type World } from './world.js';
import { damagePidfile } from './pidfile-damage.js';

export interface Outcome {
  readonly log: string[];
  readonly calls: CallResult[];
  readonly mountOk: string[];
  readonly nothingLeft: string[];
  readonly problems: string[];
}

const FG_READY_MS = 15_000;

function call(w: World, via: Via, args: readonly string[]): Call {
  return { cli: via === 'copy' ? w.copyCli : w.cli, home: via === 'link' ? w.link : w.home, args };
}

const mountArgs = (w: World, ws: string): string[] => ['mount', ws, '--source', srcOf(w, ws)];
const stopArgs = (ws: string | undefined, grace: number): string[] => ['stop', ...(ws === undefined ? ['--all'] : [ws]), '--grace', String(grace)];

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    // Gone meanwhile.
    return false;
  }
}

async function daemonsOfWs(w: World, ws: string): Promise<LiveDaemon[]> {
  return (await liveDaemons(w.view)).filter((d) => d.ws === ws).sort((a, b) => a.pid - b.pid);
}

function opCall(w: World, o: Op): Call {
  if (o.op === 'mount') return call(w, o.via, [...mountArgs(w, o.ws), '--background']);
  if (o.op === 'stop') return call(w, o.via, stopArgs(o.ws, o.grace));
  if (o.op === 'stopAll') return call(w, o.via, stopArgs(undefined, o.grace));
  return call(w, o.via, ['status', '--json']);
}

async function mountFg(w: World, ws: string, via: Via, out: Outcome): Promise<void> {
  const child = spawnCall(call(w, via, mountArgs(w, ws)));
  const text = outputOf(child);
  if (await outputMatches(child, text, /press Ctrl-C/, FG_READY_MS)) {
    if (child.pid !== undefined) w.fg.set(child.pid, { child, ws });
    w.tampered.delete(ws);
    return void out.log.push(`foreground pid ${child.pid} ready`);
  }
  const ended = await exitWithin(child, 1000);
  if (!ended) out.problems.push(`foreground mount ${ws} neither ready nor exited within ${FG_READY_MS} ms: ${text()}`);
  else if (ended.code !== 3) out.problems.push(`foreground mount ${ws} exited ${ended.code ?? ended.signal} (expected ready or 3 "already running"): ${text()}`);
  else out.log.push('foreground: exit 3 (already running)');
}

async function killLauncher(w: World, s: Extract<Step, { kind: 'killLauncher' }>, out: Outcome): Promise<void> {
  const child = spawnCall(call(w, s.via, [...mountArgs(w, s.ws), '--background']));
  const early = await exitWithin(child, s.delayMs);
  if (early) return void out.log.push(`launcher ended before the kill: ${early.code ?? early.signal}`);
  signal(child.pid ?? 0, 'SIGKILL');
  const ended = await exitWithin(child, 5000);
  out.log.push(`launcher ${child.pid} killed after ${s.delayMs} ms: ${ended ? (ended.code ?? ended.signal) : 'still there after 5 s'}`);
  if (!ended) out.problems.push(`launcher ${child.pid} did not die within 5 s of SIGKILL`);
}

async function writeThrough(w: World, ws: string, n: number, out: Outcome): Promise<void> {
  const ds = await daemonsOfWs(w, ws);
  const mounted = taggedMountAt(await readMounts(), mpOf(w, ws), ws);
  if (!mounted || ds.length !== 1 || ds.some((d) => w.stopped.has(d.pid))) return void out.log.push('skipped: not exactly one running daemon and its mount');
  const r = await runBounded('/bin/sh', ['-c', 'printf %s "$1" > "$2"', 'sh', `chaos ${n}\n`, join(mpOf(w, ws), `chaos-${n % 5}.txt`)], { timeoutMs: 8000 }).catch((e: Error) => e);
  if (r instanceof Error) out.problems.push(`a write through the mount of ${ws} (daemon ${ds[0]?.pid}) hung: ${r.message}`);
  else out.log.push(`write: exit ${r.code} ${r.stderr.trim()}`);
}

/** `stop <ws>` of a workspace that was never configured: exit 4, ERR_UNKNOWN_WORKSPACE (README). */
function isUnknown(r: { exitCode: number | undefined; stdout: string; stderr: string }): boolean {
  return r.exitCode === 4 && (r.stdout + r.stderr).includes('ERR_UNKNOWN_WORKSPACE');
}

export async function execute(w: World, s: Step, n: number): Promise<Outcome> {
  const out: Outcome = { log: [], calls: [], mountOk: [], nothingLeft: [], problems: [] };
  const run = async (c: Call): Promise<CallResult> => {
    const r = await runCall(c);
    out.calls.push(r);
    out.log.push(describeCall(r));
    return r;
  };
  switch (s.kind) {
    case 'mountBg': {
      const r = await run(call(w, s.via, [...mountArgs(w, s.ws), '--background']));
      if (r.exitCode === 0) {
        out.mountOk.push(s.ws);
        w.tampered.delete(s.ws);
      } else if (r.exitCode !== 3) out.problems.push(`mount ${s.ws} --background exited ${r.exitCode} with nothing racing it (expected 0, or 3 when running): ${r.stderr.trim()}`);
      break;
    }
    case 'mountFg':
      if (w.fg.size >= 2) out.log.push('two foreground daemons already: skipped');
      else await mountFg(w, s.ws, s.via, out);
      break;
    case 'stop': {
      const unknownBefore = !existsSync(wsDir(w, s.ws));
      const r = await run(call(w, s.via, stopArgs(s.ws, s.grace)));
      if (r.exitCode === 0) out.nothingLeft.push(s.ws);
      else if (unknownBefore && isUnknown(r)) out.log.push('unknown workspace (never configured): exit 4');
      else out.problems.push(`stop ${s.ws} exited ${r.exitCode} (expected 0: nothing here is unkillable): ${r.stdout.trim()} ${r.stderr.trim()}`);
      break;
    }
    case 'stopAll': {
      const r = await run(call(w, s.via, stopArgs(undefined, s.grace)));
      if (r.exitCode === 0) out.nothingLeft.push(...w.view.names);
      else out.problems.push(`stop --all exited ${r.exitCode} (expected 0): ${r.stdout.trim()} ${r.stderr.trim()}`);
      break;
    }
    case 'concurrent': {
      const unknownBefore = new Set(s.ops.flatMap((o) => (o.op === 'stop' && !existsSync(wsDir(w, o.ws)) ? [o.ws] : [])));
      const rs = await Promise.all(s.ops.map((o) => opCall(w, o)).map(async (c) => {
        const r = await runCall(c);
        out.calls.push(r);
        return r;
      }));
      out.log.push(...rs.map(describeCall));
      const mounting = new Set(s.ops.flatMap((o) => (o.op === 'mount' ? [o.ws] : [])));
      s.ops.forEach((o, i) => {
        const r = rs[i];
        if (!r) return;
        if (o.op === 'mount' && ![0, 3, 4].includes(r.exitCode ?? -1)) out.problems.push(`concurrent mount ${o.ws} exited ${r.exitCode}: ${r.stderr.trim()}`);
        const unknownStop = o.op === 'stop' && unknownBefore.has(o.ws) && isUnknown(r);
        if ((o.op === 'stop' || o.op === 'stopAll') && ![0, 1].includes(r.exitCode ?? -1) && !unknownStop) out.problems.push(`concurrent ${o.op} exited ${r.exitCode}: ${r.stderr.trim()}`);
        if (o.op === 'stop' && r.exitCode === 0 && !mounting.has(o.ws)) out.nothingLeft.push(o.ws);
        if (o.op === 'stopAll' && r.exitCode === 0) out.nothingLeft.push(...w.view.names.filter((x) => !mounting.has(x)));
      });
      break;
    }
    case 'killDaemon':
    case 'sigstop': {
      const ds = (await daemonsOfWs(w, s.ws)).filter((d) => s.kind === 'killDaemon' || !w.stopped.has(d.pid));
      const d = ds[s.pick % Math.max(1, ds.length)];
      if (!d) return (out.log.push('no daemon'), out);
      const ok = signal(d.pid, s.kind === 'killDaemon' ? 'SIGKILL' : 'SIGSTOP');
      if (ok && s.kind === 'sigstop') w.stopped.set(d.pid, n);
      if (s.kind === 'killDaemon') w.stopped.delete(d.pid);
      out.log.push(`${s.kind === 'killDaemon' ? 'SIGKILL' : 'SIGSTOP'} daemon ${d.pid}${w.fg.has(d.pid) ? ' (foreground)' : ''}`);
      if (s.kind === 'killDaemon') await waitZombie(d.pid);
      break;
    }
    case 'killLauncher':
      await killLauncher(w, s, out);
      break;
    case 'sigcont':
      out.log.push(`SIGCONT ${[...w.stopped.keys()].join(',') || 'nobody'}`);
      for (const pid of w.stopped.keys()) signal(pid, 'SIGCONT');
      w.stopped.clear();
      break;
    case 'pidfile':
      await damagePidfile(w, s, out.log);
      break;
    case 'fgInterrupt': {
      const fgs = [...w.fg.entries()].sort((a, b) => a[0] - b[0]);
      const e = fgs[s.pick % Math.max(1, fgs.length)];
      if (!e) return (out.log.push('no foreground daemon'), out);
      const [pid, { child, ws }] = e;
      if (w.stopped.delete(pid)) signal(pid, 'SIGCONT');
      signal(pid, 'SIGINT');
      const ended = await exitWithin(child, 8000);
      out.log.push(`SIGINT foreground ${pid} (${ws}): ${ended ? (ended.code ?? ended.signal) : 'no exit within 8 s'}`);
      if (!ended) out.problems.push(`foreground daemon ${pid} did not exit within 8 s of SIGINT`);
      else if (ended.code !== 0 && ended.code !== 1) out.problems.push(`foreground daemon ${pid} exited ${ended.code ?? ended.signal} on SIGINT (README: 0, or 1 if forced)`);
      break;
    }
    case 'write':
      await writeThrough(w, s.ws, n, out);
      break;
    case 'status': {
      const r = await run(call(w, s.via, ['status', s.ws, '--json']));
      const tokens = statusTokens(r.stdout);
      out.log.push(`tokens ${JSON.stringify(tokens)}`);
      const want = tokens === undefined ? undefined : tokens.some((t) => /^(orphan|stale-pidfile|stale-mount)/.test(t)) ? 1 : tokens.every((t) => t === 'stopped') ? 3 : 0;
      const unknown = r.exitCode === 4 && !existsSync(wsDir(w, s.ws)) && r.stdout.includes('ERR_UNKNOWN_WORKSPACE');
      if (unknown) out.log.push('unknown workspace (never configured): exit 4');
      else if (want === undefined) out.problems.push(`status ${s.ws} --json printed no JSON (exit ${r.exitCode}): ${r.stdout.slice(0, 300)} ${r.stderr.trim()}`);
      else if (r.exitCode !== want) out.problems.push(`status ${s.ws} exited ${r.exitCode}, README says ${want} for ${tokens?.join(' ')}`);
      break;
    }
    case 'abortConn':
      await abortConn(w, s.ws, out);
      break;
    case 'stopSquatted': {
      const r = await run(call(w, s.via, stopArgs(SQUATTED, 300)));
      // Never configured: 4 (README), as long as nothing was signalled (the squatter check follows).
      if (r.exitCode !== 0 && !(isUnknown(r) && !existsSync(wsDir(w, SQUATTED)))) out.problems.push(`stop ${SQUATTED} (never started, lock name squatted) exited ${r.exitCode}: ${r.stdout.trim()} ${r.stderr.trim()}`);
      break;
    }
  }
  for (const ws of out.nothingLeft) w.tampered.delete(ws);
  for (const [pid, e] of w.fg) if (e.child.exitCode !== null || e.child.signalCode !== null) w.fg.delete(pid);
  for (const pid of w.stopped.keys()) {
    const st = await statOf(pid);
    if (!st || st.state === 'Z') w.stopped.delete(pid);
  }
  return out;
}

function statusTokens(stdout: string): string[] | undefined {
  try {
    const doc = JSON.parse(stdout) as { workspaces?: { tokens?: string[] }[] };
    return doc.workspaces?.[0]?.tokens ?? [];
  } catch {
    // Not JSON: the caller reports it.
    return undefined;
  }
}

/** After a SIGKILL, wait (bounded) until the process is a zombie or gone. */
async function waitZombie(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const st = await statOf(pid);
    if (!st || st.state === 'Z') return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * What a user may do to a mount that hangs: abort its FUSE connection through fusectl. Only this
 * home's own tagged mount of `ws`, and only while mountinfo still shows that very mount with that
 * connection number (numbers are reused); never mounts fusectl (machine-wide state). The daemon
 * must then notice its session ended and go, which `settle` checks.
 */
async function abortConn(w: World, ws: string, out: Outcome): Promise<void> {
  const m = taggedMountAt(await readMounts(), mpOf(w, ws), ws);
  if (!m) return void out.log.push('not mounted');
  // Those serving it now; a stopped one cannot react until SIGCONT, so it is not held to the bound.
  const serving = (await daemonsOfWs(w, ws)).filter((d) => !w.stopped.has(d.pid));
  const minor = m.device.split(':')[1];
  const now = await readMounts();
  if (!minor || now.filter((x) => x.device === m.device).length !== 1 || !now.some((x) => x.id === m.id && x.device === m.device)) return void out.log.push('the mount moved meanwhile');
  try {
    await writeFile(`/sys/fs/fuse/connections/${minor}/abort`, '1');
  } catch (err) {
    return void out.log.push(`abort of connection ${minor} failed: ${(err as NodeJS.ErrnoException).code ?? String(err)} (fusectl not mounted?)`);
  }
  out.log.push(`aborted connection ${minor} of mount ${m.id} (${ws}); serving: ${serving.map((d) => d.pid).join(',') || 'none'}`);
  // Whatever the data path, a daemon whose session was aborted must notice and go by itself.
  const deadline = Date.now() + ABORT_EXIT_MS;
  for (const d of serving) {
    let st = await statOf(d.pid);
    while (st && st.state !== 'Z' && st.startTime === d.startTime && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      st = await statOf(d.pid);
    }
    if (st && st.state !== 'Z' && st.startTime === d.startTime) out.problems.push(`daemon ${d.pid} of ${ws} still runs ${ABORT_EXIT_MS} ms after its FUSE connection was aborted: ${await describePid(d.pid)}`);
  }
}

/** How long a daemon may take to notice its aborted session (mount watch: 1 s × 2) and shut down. */
const ABORT_EXIT_MS = 10_000;
