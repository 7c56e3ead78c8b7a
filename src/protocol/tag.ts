/**
 * How a mountie mount names its owner. The fsname (the mount's source in /proc/self/mountinfo,
 * fstype `fuse.mountie`) is `mountie:<ws>@<homeId>`, where homeId is derived from the home
 * directory's device and inode: the same home reached through a symlink or a bind mount has the
 * same id, two homes never share one. So every mount of a workspace is found by its tag wherever
 * it sits (even where a swapped symlink sent it), and another home's mount is never taken for ours.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { MountEntry } from '../sys/mountinfo.js';
import { withTimeout } from '../sys/time.js';

export const FUSE_SUBTYPE = 'mountie';
export const FUSE_FSTYPE = `fuse.${FUSE_SUBTYPE}`;

export interface MountTag {
  readonly workspace: string;
  readonly homeId: string;
}

export function mountTag(workspace: string, homeId: string): string {
  return `mountie:${workspace}@${homeId}`;
}

export function parseTag(source: string): MountTag | undefined {
  const m = /^mountie:([a-z0-9][a-z0-9._-]{0,62})@([0-9a-f]{16})$/.exec(source);
  return m ? { workspace: m[1] as string, homeId: m[2] as string } : undefined;
}

/** A mountie mount of any home or workspace (including pre-0.2 tags `mountie:<ws>`). */
export function isMountieMount(e: MountEntry): boolean {
  return e.fstype === FUSE_FSTYPE && e.source.startsWith('mountie:');
}

export function isTagOf(e: MountEntry, workspace: string, homeId: string): boolean {
  return e.fstype === FUSE_FSTYPE && e.source === mountTag(workspace, homeId);
}

/** Every mount of this workspace of this home, wherever it sits, in mount order. */
export function mountsOf(entries: readonly MountEntry[], workspace: string, homeId: string | undefined): MountEntry[] {
  return homeId === undefined ? [] : entries.filter((e) => isTagOf(e, workspace, homeId));
}

export function homeIdFrom(dev: number, ino: number): string {
  return createHash('sha256').update(`mountie-home\0${dev}\0${ino}`).digest('hex').slice(0, 16);
}

/** The home's id, or undefined when the home does not exist (yet). Bounded: a home is never on a mount we serve, but may sit on a slow one. */
export async function homeIdOf(home: string): Promise<string | undefined> {
  try {
    const st = await withTimeout(`stat ${home}`, 2000, stat(home));
    return homeIdFrom(st.dev, st.ino);
  } catch {
    // Missing or unreachable home: nothing of it can be mounted or running under this id.
    return undefined;
  }
}
