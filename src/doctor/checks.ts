/**
 * The doctor's checks: pure functions from facts (facts.ts) to verdicts. A failed check always
 * carries the exact command that fixes it (`fix`), quoted for a POSIX shell; a warning carries one
 * when there is one. Commands that need root start with `sudo` unless the doctor runs as root.
 */
import { shJoin, shQuote } from '../sys/shell.js';
import { satisfies } from './engines.js';
import type { DoctorFacts, HelperFacts, PathFacts } from './facts.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** Stable id (scripts match on it): dev-fuse, libfuse2, ..., leftovers:<ws>. */
  readonly id: string;
  readonly status: CheckStatus;
  /** One line for people. */
  readonly summary: string;
  /** The exact shell command that fixes it. */
  readonly fix?: string;
}

const FUSE_MAJOR = 10;
const FUSE_MINOR = 229;

const octal = (mode: number | undefined): string => (mode === undefined ? '?' : `0${(mode & 0o7777).toString(8).padStart(3, '0')}`);

function sudo(f: DoctorFacts, words: readonly string[]): string {
  return (f.uid === 0 ? '' : 'sudo ') + shJoin(words);
}

/** `mountie …`, with MOUNTIE_HOME repeated when the doctor was run with one. */
function mountie(f: DoctorFacts, words: readonly string[]): string {
  return (f.mountieHomeEnv ? `MOUNTIE_HOME=${shQuote(f.mountieHomeEnv)} ` : '') + shJoin(['mountie', ...words]);
}

export function checkDevFuse(f: DoctorFacts): Check {
  const d = f.devFuse;
  const mknod = sudo(f, ['mknod', '-m', '0666', d.path, 'c', String(FUSE_MAJOR), String(FUSE_MINOR)]);
  if (d.kind === 'missing') {
    return { id: 'dev-fuse', status: 'fail', summary: `${d.path} is missing${d.error ? ` (${d.error})` : ''}: the fuse module is not loaded, or this container was started without it`, fix: `${sudo(f, ['modprobe', 'fuse'])}   # in a container: run it with --device /dev/fuse` };
  }
  if (d.kind !== 'char') return { id: 'dev-fuse', status: 'fail', summary: `${d.path} is not a character device (${d.kind})`, fix: `${sudo(f, ['rm', d.path])} && ${mknod}` };
  if (d.rdev && (d.rdev.major !== FUSE_MAJOR || d.rdev.minor !== FUSE_MINOR)) {
    return { id: 'dev-fuse', status: 'fail', summary: `${d.path} is device ${d.rdev.major},${d.rdev.minor}, not the FUSE device ${FUSE_MAJOR},${FUSE_MINOR}`, fix: `${sudo(f, ['rm', d.path])} && ${mknod}` };
  }
  if (!d.readWrite) {
    return { id: 'dev-fuse', status: 'fail', summary: `${d.path} (mode ${octal(d.mode)}, owner uid ${d.uid ?? '?'}) cannot be opened read-write by uid ${f.uid}`, fix: sudo(f, ['chmod', '0666', d.path]) };
  }
  return { id: 'dev-fuse', status: 'ok', summary: `${d.path}: FUSE device, mode ${octal(d.mode)}, read-write for uid ${f.uid}` };
}

export function checkLibfuse3(f: DoctorFacts): Check {
  if (f.libfuse3 === undefined) return { id: 'libfuse3', status: 'warn', summary: 'ldconfig could not be run: cannot tell whether libfuse3.so.3 is installed' };
  if (!f.libfuse3) {
    return { id: 'libfuse3', status: 'fail', summary: 'libfuse3.so.3 is not installed: the native core, which serves every mount, cannot load', fix: sudo(f, ['apt-get', 'install', '-y', 'fuse3']) };
  }
  return { id: 'libfuse3', status: 'ok', summary: 'libfuse3.so.3 is installed (the native core)' };
}

function helperCheck(f: DoctorFacts, h: HelperFacts, needed: 'fail' | 'warn', role: string): Check {
  if (!h.path || !h.real) return { id: h.name, status: needed, summary: `${h.name} is not on PATH: ${role}`, fix: sudo(f, ['apt-get', 'install', '-y', 'fuse3']) };
  const real: PathFacts = h.real;
  const setuid = real.mode !== undefined && (real.mode & 0o4000) !== 0 && real.uid === 0;
  if (f.uid !== 0 && !setuid) {
    return { id: h.name, status: needed, summary: `${h.path} (${real.path}, mode ${octal(real.mode)}, owner uid ${real.uid ?? '?'}) is not setuid root: a user cannot mount or unmount with it`, fix: sudo(f, ['chmod', 'u+s', real.path]) };
  }
  return { id: h.name, status: 'ok', summary: `${h.path}${real.path !== h.path ? ` -> ${real.path}` : ''}${f.uid === 0 ? ' (root: setuid not needed)' : ' is setuid root'}` };
}

export function checkFusermount3(f: DoctorFacts): Check {
  return helperCheck(f, f.fusermount3, 'fail', 'the native core (libfuse3) mounts with it, and mountie unmounts with it');
}

export function checkFlock(f: DoctorFacts): Check {
  const fix = sudo(f, ['apt-get', 'install', '-y', 'util-linux']);
  // The native addon takes the lock itself when it loads (src/protocol/lock.ts): flock(1) is then only its fallback.
  if (!f.flock.path && f.native.loadable && f.native.flock) return { id: 'flock', status: 'warn', summary: 'flock (util-linux) is not on PATH: the native addon takes the workspace lock; without the addon nothing could mount or stop', fix };
  if (!f.flock.path) return { id: 'flock', status: 'fail', summary: 'flock (util-linux) is not on PATH and the native addon cannot take the lock: no workspace lock can be taken, so nothing mounts or stops', fix };
  return { id: 'flock', status: 'ok', summary: `${f.flock.path} (the workspace lock)` };
}

export function checkFusectl(f: DoctorFacts): Check {
  if (!f.fusectl.present) return { id: 'fusectl', status: 'warn', summary: '/sys/fs/fuse/connections is missing (fuse module not loaded?): stop cannot abort a wedged FUSE connection', fix: sudo(f, ['modprobe', 'fuse']) };
  if (!f.fusectl.mounted) {
    return { id: 'fusectl', status: 'warn', summary: 'fusectl is not mounted: stop mounts it itself when run as root, else it cannot abort a wedged FUSE connection', fix: sudo(f, ['mount', '-t', 'fusectl', 'none', '/sys/fs/fuse/connections']) };
  }
  return { id: 'fusectl', status: 'ok', summary: 'fusectl is mounted at /sys/fs/fuse/connections' };
}

export function checkAllowOther(f: DoctorFacts): Check {
  const c = f.fuseConf;
  if (!c) return { id: 'allow-other', status: 'skip', summary: 'user_allow_other not checked (ask with --allow-other)' };
  if (c.userAllowOther) return { id: 'allow-other', status: 'ok', summary: `${c.path} has user_allow_other` };
  if (f.uid === 0) return { id: 'allow-other', status: 'ok', summary: `${c.path} lacks user_allow_other, which root does not need` };
  return { id: 'allow-other', status: 'fail', summary: `${c.path} ${c.exists ? 'lacks' : 'is missing, so there is no'} user_allow_other: a user's mount cannot be opened to other users`, fix: `echo user_allow_other | ${sudo(f, ['tee', '-a', c.path])}` };
}

export function checkNative(f: DoctorFacts): Check {
  const n = f.native;
  // native/build/Release/mountie_native.node (or prebuilds/linux-x64/<file>): the package root above it.
  const checkout = n.path.split('/').slice(0, n.prebuilt ? -3 : -4).join('/') || '/';
  const build = `cd ${shQuote(checkout)} && npm run build:native`;
  if (!n.built) return { id: 'native-addon', status: 'fail', summary: `the native addon is not built (${n.path}): nothing can mount`, fix: build };
  if (!n.loadable) {
    // The prebuilt addon needs only the runtime library; a local build can be rebuilt.
    const fix = /libfuse3\.so\.3/.test(n.reason ?? '') ? sudo(f, ['apt-get', 'install', '-y', 'fuse3']) : `${build}   # details: native/build-error.log`;
    return { id: 'native-addon', status: 'fail', summary: `the native addon does not load, so nothing can mount: ${n.reason ?? 'unknown reason'}`, fix };
  }
  return { id: 'native-addon', status: 'ok', summary: `the native addon loads (${n.prebuilt ? 'prebuilt, ' : ''}${n.path})` };
}

export function checkNode(f: DoctorFacts): Check {
  const { version, engines } = f.node;
  if (!engines) return { id: 'node', status: 'warn', summary: `Node ${version}; package.json (and its engines range) not found` };
  const ok = satisfies(version, engines);
  if (ok === undefined) return { id: 'node', status: 'warn', summary: `Node ${version}; engines range ${JSON.stringify(engines)} not understood` };
  if (!ok) return { id: 'node', status: 'fail', summary: `Node ${version} is outside the supported range ${engines}`, fix: 'nvm install 22   # or install Node 22 from https://nodejs.org' };
  return { id: 'node', status: 'ok', summary: `Node ${version} (supported: ${engines})` };
}

/** The home: a directory of this user's own, 0700, not reached through a link into someone else's tree. */
export function checkHome(f: DoctorFacts): Check[] {
  const h = f.home;
  const out: Check[] = [];
  if (h.self.error) return [{ id: 'home', status: 'fail', summary: `${h.path} cannot be looked at (${h.self.error})`, fix: `${sudo(f, ['chown', `${f.uid}`, h.path])}   # or set MOUNTIE_HOME to a home of your own` }];
  if (h.self.kind === 'missing') return [{ id: 'home', status: 'ok', summary: `${h.path} does not exist yet (the first mount creates it, 0700)` }];
  const dir = h.self.kind === 'symlink' ? h.target : h.self;
  if (h.self.kind === 'symlink') {
    if (!dir || dir.kind === 'missing') return [{ id: 'home', status: 'fail', summary: `${h.path} is a symlink to nothing`, fix: `rm ${shQuote(h.path)}   # or point MOUNTIE_HOME at a directory` }];
    if (h.self.uid !== f.uid && f.uid !== 0 && h.self.uid !== 0) {
      out.push({ id: 'home-owner', status: 'fail', summary: `${h.path} is a symlink owned by uid ${h.self.uid}, not by uid ${f.uid}`, fix: `rm ${shQuote(h.path)} && mkdir -m 0700 ${shQuote(h.path)}` });
    }
  }
  if (!dir) return out;
  if (dir.kind !== 'dir') return [...out, { id: 'home', status: 'fail', summary: `${dir.path} is not a directory (${dir.kind})`, fix: `mv ${shQuote(dir.path)} ${shQuote(dir.path + '.bak')}   # or set MOUNTIE_HOME to a directory` }];
  const where = h.self.kind === 'symlink' ? `${h.path} -> ${dir.path}` : h.path;
  if (dir.uid !== f.uid) {
    out.push({ id: 'home-owner', status: 'fail', summary: `${where} is owned by uid ${dir.uid ?? '?'}, not by uid ${f.uid} who runs mountie`, fix: sudo(f, ['chown', '-R', `${f.uid}`, dir.path]) });
  }
  const mode = dir.mode ?? 0;
  if ((mode & 0o022) !== 0) {
    out.push({ id: 'home-mode', status: 'fail', summary: `${where} has mode ${octal(mode)}: others can write into it (plant a pidfile, swap a workspace dir)`, fix: shJoin(['chmod', '0700', dir.path]) });
  } else if ((mode & 0o077) !== 0) {
    out.push({ id: 'home-mode', status: 'warn', summary: `${where} has mode ${octal(mode)}: others can read its configs and logs`, fix: shJoin(['chmod', '0700', dir.path]) });
  }
  const ws = h.workspaces;
  if (ws.kind === 'symlink') out.push({ id: 'home-workspaces', status: 'fail', summary: `${ws.path} is a symlink: mountie refuses to write through it`, fix: `mv ${shQuote(ws.path)} ${shQuote(ws.path + '.link')} && mkdir -m 0700 ${shQuote(ws.path)}` });
  else if (ws.kind === 'dir' && ws.uid !== f.uid) out.push({ id: 'home-workspaces', status: 'fail', summary: `${ws.path} is owned by uid ${ws.uid ?? '?'}, not by uid ${f.uid}`, fix: sudo(f, ['chown', '-R', `${f.uid}`, ws.path]) });
  else if (ws.kind === 'dir' && ((ws.mode ?? 0) & 0o022) !== 0) out.push({ id: 'home-workspaces', status: 'fail', summary: `${ws.path} has mode ${octal(ws.mode)}: others can write into it`, fix: shJoin(['chmod', '0700', ws.path]) });
  if (out.length === 0) out.push({ id: 'home', status: 'ok', summary: `${where}: owned by uid ${f.uid}, mode ${octal(mode)}` });
  return out;
}

/** Leftovers of this home (never another's): each with the stop that cleans it. */
export function checkLeftovers(f: DoctorFacts): Check[] {
  const w = f.workspaces;
  if (!Array.isArray(w)) return [{ id: 'leftovers', status: 'warn', summary: `could not inspect the workspaces: ${(w as { error: string }).error}` }];
  const bad = w.filter((s) => s.verdict === 'leftovers' || s.verdict === 'failed');
  if (bad.length === 0) return [{ id: 'leftovers', status: 'ok', summary: w.length === 0 ? 'no workspaces' : `no leftovers in ${w.length} workspace(s)` }];
  return bad.map((s) =>
    s.configError
      ? { id: `leftovers:${s.workspace}`, status: 'fail', summary: `${s.workspace}: ${s.tokens.join(' ')}, workspace.json is corrupt (${s.configError})`, fix: `${mountie(f, ['stop', s.workspace])}   # then fix or remove its workspace.json` }
      : { id: `leftovers:${s.workspace}`, status: 'fail', summary: `${s.workspace}: ${s.tokens.join(' ')}${s.verdict === 'failed' ? ' (its mount failed)' : ''}`, fix: mountie(f, ['stop', s.workspace]) },
  );
}

export function runChecks(f: DoctorFacts): Check[] {
  return [
    checkDevFuse(f),
    checkLibfuse3(f),
    checkFusermount3(f),
    checkFlock(f),
    checkFusectl(f),
    checkAllowOther(f),
    checkNative(f),
    checkNode(f),
    ...checkHome(f),
    ...checkLeftovers(f),
  ];
}
