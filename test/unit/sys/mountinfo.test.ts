import { describe, expect, it } from 'vitest';
import { fuseConnection, isFuse, mountAt, parseMountInfo, unescapeMountField } from '../../../src/sys/mountinfo.js';

const SAMPLE = [
  '22 1 0:21 / / rw,relatime - ext4 /dev/vda rw',
  '42 22 0:39 / /tmp/a\\040b rw,nosuid,nodev,relatime - fuse.mountie mountie:demo rw,user_id=0,group_id=0',
  '43 22 0:40 / /tmp/x rw - tmpfs tmpfs rw',
  '44 43 0:41 / /tmp/x rw - fuse.mountie mountie:ws rw,user_id=0',
  '45 22 0:42 / /opt/odd rw shared:5 master:1 - fuse sshfs#host: rw',
].join('\n');

describe('mountinfo', () => {
  it('parses fields and unescapes octal', () => {
    const e = parseMountInfo(SAMPLE);
    expect(e).toHaveLength(5);
    expect(e[1]).toMatchObject({ mountId: 42, device: '0:39', mountPoint: '/tmp/a b', fstype: 'fuse.mountie', source: 'mountie:demo' });
    expect(e[4]).toMatchObject({ mountPoint: '/opt/odd', fstype: 'fuse', source: 'sshfs#host:' });
    expect(unescapeMountField('a\\011b\\012c\\134d')).toBe('a\tb\nc\\d');
  });

  it('mountAt returns the topmost of stacked mounts', () => {
    const e = parseMountInfo(SAMPLE);
    expect(mountAt(e, '/tmp/x')?.source).toBe('mountie:ws');
    expect(mountAt(e, '/tmp/nothing')).toBeUndefined();
  });

  it('identifies FUSE mounts and their connection number', () => {
    const e = parseMountInfo(SAMPLE);
    expect(e.map(isFuse)).toEqual([false, true, false, true, true]);
    expect(fuseConnection(e[1]!)).toBe(39);
  });

  it('skips malformed lines', () => {
    expect(parseMountInfo('garbage\n\n1 2 3')).toEqual([]);
  });
});
