import { spawn } from 'node:child_process';
import { MountieError } from '../errors.js';

/**
 * stat + realpath of a path the user named (the source), in child processes. A source can be a
 * hung network or FUSE mount: an fs call on it in this process would hold a libuv thread that
 * nothing can cancel, and process.exit() waits for every such thread (the CLI printed a
 * TimeoutError and then hung for a minute). A child blocked on a FUSE request still dies of
 * SIGKILL while its request is still queued; once the FUSE server has read the request, the kernel
 * waits it out even for SIGKILL (request_wait_answer), so on timeout the child is killed and left
 * behind, unreferenced: it ends when the source answers or its connection is aborted, and this
 * process exits without waiting for it. coreutils `realpath` and `stat` start in about a
 * millisecond (a node child took 0.1 s idle and over 2 s with 20 starts at once on 2 cores).
 */
export interface PathProbe {
  readonly kind: 'dir' | 'file' | 'other' | 'missing' | 'error';
  /** realpath, when the path exists. */
  readonly real?: string;
  /** The errno, when kind is 'error' (or 'missing': ENOENT/ENOTDIR). */
  readonly errno?: string;
}

/** strerror texts (LC_ALL=C) of the errnos a path lookup can meet. */
const STRERROR: readonly (readonly [string, string])[] = [
  ['No such file or directory', 'ENOENT'],
  ['Not a directory', 'ENOTDIR'],
  ['Permission denied', 'EACCES'],
  ['Operation not permitted', 'EPERM'],
  ['File name too long', 'ENAMETOOLONG'],
  ['Too many levels of symbolic links', 'ELOOP'],
  ['Transport endpoint is not connected', 'ENOTCONN'],
  ['Input/output error', 'EIO'],
  ['Stale file handle', 'ESTALE'],
  ['Too many open files', 'EMFILE'],
];

interface ChildResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly spawnError?: string;
}

/** Run `file args`; at `timeoutMs` SIGKILL it and return at once, without waiting for its exit. */
function runBounded(file: string, args: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      // It may sit in the kernel for good (see above): nothing of ours may wait for it.
      child.stdout.destroy();
      child.stderr.destroy();
      child.unref();
      resolve({ code: null, stdout, stderr, timedOut: true });
    }, timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, timedOut: false, spawnError: err.code ?? 'ESPAWN' });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut: false });
    });
  });
}

function errnoOf(stderr: string): string {
  return STRERROR.find(([text]) => stderr.includes(text))?.[1] ?? 'EUNKNOWN';
}

function unresponsive(path: string, what: string, timeoutMs: number): MountieError {
  return new MountieError('ERR_SOURCE_UNRESPONSIVE', `${what} ${path} did not answer within ${timeoutMs} ms`, {
    data: { path, timeoutMs },
    hint: `${path} hangs (a dead network or FUSE mount?); fix or unmount it, then retry`,
  });
}

export async function probePath(path: string, timeoutMs: number, what = 'source'): Promise<PathProbe> {
  const env = { ...process.env, LC_ALL: 'C' };
  // Both at once, one bound for the pair (a launch pays one process start, not two in a row):
  // stat -L follows the same links realpath resolves, so it names the type of what realpath names.
  const [real, st] = await Promise.all([runBounded('realpath', ['-ez', '--', path], timeoutMs, env), runBounded('stat', ['-L', '--printf', '%F', '--', path], timeoutMs, env)]);
  if (real.timedOut || st.timedOut) throw unresponsive(path, what, timeoutMs);
  if (real.spawnError) {
    throw new MountieError('ERR_ENVIRONMENT', `cannot check ${what} ${path}: realpath(1) did not start (${real.spawnError})`, {
      data: { path, errno: real.spawnError },
      hint: 'install coreutils (realpath, stat), then retry',
    });
  }
  if (real.code !== 0) {
    const errno = errnoOf(real.stderr);
    return { kind: errno === 'ENOENT' || errno === 'ENOTDIR' ? 'missing' : 'error', errno };
  }
  const resolved = real.stdout.replace(/\0$/, '');
  if (st.code !== 0) return { kind: 'error', errno: st.spawnError ?? errnoOf(st.stderr) };
  const kind = st.stdout === 'directory' ? 'dir' : /regular/.test(st.stdout) ? 'file' : 'other';
  return { kind, real: resolved };
}
