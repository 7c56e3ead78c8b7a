/**
 * The fsname a workspace's mount carries. /proc/self/mountinfo shows it as the mount source
 * (with fstype `fuse.mountie`), which is how mountie tells its mounts apart from anyone else's.
 */
export const FUSE_SUBTYPE = 'mountie';

export function fsnameFor(workspace: string): string {
  return `mountie:${workspace}`;
}
