/**
 * How a mount names its owner. The fsname (the mount's source in /proc/self/mountinfo, fstype
 * `fuse.<kind>`) is `<kind>:<ws>@<homeId>` (mountie's own: `mountie:<ws>@<homeId>`, fstype
 * `fuse.mountie`; see ./kind.ts), where homeId is derived from the home
 * directory's device and inode: the same home reached through a symlink or a bind mount has the
 * same id, two homes never share one. So every mount of a workspace is found by its tag wherever
 * it sits (even where a swapped symlink sent it), and another home's mount is never taken for ours.
 */
import { stat } from 'node:fs/promises';
import type { MountEntry } from '../sys/mountinfo.js';
import { sha256Hex } from '../sys/sha256.js';
import { withTimeout } from '../sys/time.js';
import { MOUNTIE, type Kind } from './kind.js';

/** mountie's own subtype and fstype (MOUNTIE's). */
export const FUSE_SUBTYPE = MOUNTIE.name;
export const FUSE_FSTYPE = MOUNTIE.fstype;

export interface MountTag {
  readonly workspace: string;
  readonly homeId: string;
  /** The kind's name the tag starts with. */
  readonly kind: string;
}

export function mountTag(workspace: string, homeId: string, kind: Kind = MOUNTIE): string {
  return `${kind.name}:${workspace}@${homeId}`;
}

/** A tag of any kind (`<kind>:<ws>@<homeId>`); with `kind`, only that kind's. */
export function parseTag(source: string, kind?: Kind): MountTag | undefined {
  const m = /^([a-z][a-z0-9]{1,7}):([a-z0-9][a-z0-9._-]{0,62})@([0-9a-f]{16})$/.exec(source);
  if (!m || (kind !== undefined && m[1] !== kind.name)) return undefined;
  return { workspace: m[2] as string, homeId: m[3] as string, kind: m[1] as string };
}

/** A mount of this kind, of any home or workspace (including pre-0.2 tags `mountie:<ws>`). */
export function isMountieMount(e: MountEntry, kind: Kind = MOUNTIE): boolean {
  return e.fstype === kind.fstype && e.source.startsWith(`${kind.name}:`);
}

/**
 * Whether a FUSE mount is this user's: its superblock's `user_id=` (who mounted it) is our uid. A
 * name is no proof: anyone may mount a FUSE file system called `mountie:<ws>@<homeId>`.
 */
export function mountedByUs(e: MountEntry, uid: number | undefined = process.getuid?.()): boolean {
  const m = /(?:^|,)user_id=(\d+)(?:,|$)/.exec(e.superOptions);
  return m !== null && uid !== undefined && Number(m[1]) === uid;
}

/** A FUSE mount with this fsname and `fuse.<subtype>`, mounted by us: how a mounting process knows its own mount wherever it landed. */
export function isOwnFuseMount(fsname: string, subtype: string): (e: MountEntry) => boolean {
  return (e) => e.source === fsname && e.fstype === `fuse.${subtype}` && mountedByUs(e);
}

export function isTagOf(e: MountEntry, workspace: string, homeId: string, kind: Kind = MOUNTIE): boolean {
  return e.fstype === kind.fstype && e.source === mountTag(workspace, homeId, kind) && mountedByUs(e);
}

/** Every mount of this kind's workspace of this home, wherever it sits, in mount order. */
export function mountsOf(entries: readonly MountEntry[], workspace: string, homeId: string | undefined, kind: Kind = MOUNTIE): MountEntry[] {
  return homeId === undefined ? [] : entries.filter((e) => isTagOf(e, workspace, homeId, kind));
}

export function homeIdFrom(dev: number, ino: number): string {
  // sha256Hex, not node:crypto: the same digest without loading crypto in every command.
  return sha256Hex(`mountie-home\0${dev}\0${ino}`).slice(0, 16);
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
