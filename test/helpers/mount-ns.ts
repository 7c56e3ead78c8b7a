/**
 * A private mount namespace for a test that must change mounts every process on the machine sees
 * (fusectl at /sys/fs/fuse/connections): the change stays inside, the host and the other tests
 * never see it. Processes enter it through `enter` (nsenter, which execs: the pid stays the
 * command's own); the namespace ends when its last process does (the holder is a tracked child,
 * killed in teardown).
 */
import { readlink } from 'node:fs/promises';
import { readMountInfo, type MountEntry } from '../../src/sys/mountinfo.js';
import { spawnTracked, waitFor } from './sandbox.js';

export interface MountNamespace {
  /** Prefix a command with this to run it inside. */
  readonly enter: readonly string[];
  /** The mount table as seen inside. */
  mountinfo(): Promise<MountEntry[]>;
}

export async function privateMountNamespace(): Promise<MountNamespace> {
  const holder = spawnTracked('unshare', ['--mount', '--propagation', 'private', '--', 'sleep', 'infinity'], { stdio: 'ignore' });
  const pid = holder.pid;
  if (pid === undefined) throw new Error('unshare did not start');
  const ours = await readlink('/proc/self/ns/mnt');
  await waitFor('the new mount namespace', async () => {
    const ns = await readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
    return ns !== undefined && ns !== ours ? true : undefined;
  }, 5000);
  return { enter: ['nsenter', `--mount=/proc/${pid}/ns/mnt`, '--'], mountinfo: () => readMountInfo(`/proc/${pid}/mountinfo`) };
}
