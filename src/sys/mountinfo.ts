import { readFile } from 'node:fs/promises';

/**
 * What is mounted, read from /proc/self/mountinfo. Reading it never touches a mountpoint,
 * so it cannot hang on a wedged FUSE connection (stat of the mountpoint can).
 */
export interface MountEntry {
  readonly mountId: number;
  /** "major:minor" of the mounted device; for FUSE the minor names /sys/fs/fuse/connections/<minor>. */
  readonly device: string;
  readonly mountPoint: string;
  readonly fstype: string;
  readonly source: string;
  readonly superOptions: string;
  /** Per-mount options (field 6), e.g. "rw,nosuid,relatime" or "ro,...". */
  readonly mountOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const [id, , device, , mountPoint, mountOptions] = left;
    const [fstype, source, superOptions] = right;
    if (id === undefined || device === undefined || mountPoint === undefined || fstype === undefined) continue;
    entries.push({
      mountId: Number(id),
      device,
      mountPoint: unescapeMountField(mountPoint),
      fstype,
      source: unescapeMountField(source ?? ''),
      superOptions: superOptions ?? '',
      mountOptions: mountOptions ?? '',
    });
  }
  return entries;
}

export async function readMountInfo(file = '/proc/self/mountinfo'): Promise<MountEntry[]> {
  return parseMountInfo(await readFile(file, 'utf8'));
}

/**
 * Is `e` the same mount as `known`? Not by mount id alone: the kernel hands a freed id to the next
 * new mount at once (lowest free first), so an id read before an unmount may name someone else's
 * mount after it. The id with the device (a FUSE mount's connection) and the source: all three
 * travel with a mount when it is moved, and a recycled id comes with another device.
 */
export function sameMount(known: MountEntry): (e: MountEntry) => boolean {
  return (e) => e.mountId === known.mountId && e.device === known.device && e.source === known.source;
}

/** The topmost mount at exactly `path` (later lines stack over earlier ones), if any. */
export function mountAt(entries: readonly MountEntry[], path: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const e of entries) if (e.mountPoint === path) found = e;
  return found;
}

export function isFuse(entry: MountEntry): boolean {
  return entry.fstype === 'fuse' || entry.fstype.startsWith('fuse.');
}

/** The FUSE connection number: /sys/fs/fuse/connections/<minor>. */
export function fuseConnection(entry: MountEntry): number | undefined {
  const minor = entry.device.split(':')[1];
  return minor === undefined ? undefined : Number(minor);
}
