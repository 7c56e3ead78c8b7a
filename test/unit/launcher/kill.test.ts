import { afterEach, describe, expect, it } from 'vitest';
import { groupSignalAllowed, signalDaemon, sweepSession } from '../../../src/launcher/kill.js';
import { bootId, identityOf, readGroupNow } from '../../../src/sys/proc.js';
import { reapAll, spawnTracked } from '../../helpers/sandbox.js';
import { waitForOutput } from '../../helpers/cli.js';

describe('what stop may signal (item 1)', () => {
  afterEach(reapAll);

  it('never a group that holds us or init, never pid <= 1', () => {
    const own = readGroupNow(process.pid);
    expect(groupSignalAllowed(1, 1)).toBe(false);
    expect(groupSignalAllowed(0, 0)).toBe(false);
    if (own) expect(groupSignalAllowed(own.pgrp, own.pgrp)).toBe(false);
    const init = readGroupNow(1);
    if (init && init.pgrp > 1) expect(groupSignalAllowed(init.pgrp, init.pgrp)).toBe(false);
    expect(groupSignalAllowed(4242, 4242)).toBe(true);
    expect(groupSignalAllowed(4242, 4000)).toBe(false);
  });

  it('refuses pid 1, pid 0 and a live process without the daemon marker; signals a marked one by its group', async () => {
    const sent: [number, string | number][] = [];
    const record = (pid: number, sig: NodeJS.Signals | 0): void => void sent.push([pid, sig]);
    const boot = await bootId();
    expect(await signalDaemon({ pid: 1, startTime: (await identityOf(1))?.startTime ?? 0, bootId: boot }, 'SIGTERM', record)).toBe('identity-mismatch');
    expect(await signalDaemon({ pid: 0, startTime: 0, bootId: boot }, 'SIGTERM', record)).toBe('identity-mismatch');
    const plain = spawnTracked(process.execPath, ['-e', 'console.log("up"); setInterval(() => {}, 1000)']);
    await waitForOutput(plain, /up/);
    expect(await signalDaemon((await identityOf(plain.pid!))!, 'SIGTERM', record)).toBe('identity-mismatch');
    const marked = spawnTracked(process.execPath, ['--title=mountie-daemon ws', '-e', 'console.log("up"); setInterval(() => {}, 1000)']);
    await waitForOutput(marked, /up/);
    expect(await signalDaemon((await identityOf(marked.pid!))!, 'SIGTERM', record)).toBe('sent');
    expect(sent).toEqual([[-marked.pid!, 'SIGTERM']]);
  });

  it('sweeps a session only while its id still names the daemon: a reused session id is left alone', async () => {
    // A session leader (detached spawn = setsid) with a member that left its process group.
    const leader = spawnTracked('bash', ['-c', 'setsid -f true; (set -m; sleep 300 & echo $!; wait)'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const member = Number((await waitForOutput(leader, /^\d+\s*$/m)).trim());
    const id = (await identityOf(leader.pid!))!;
    const noop = (): void => undefined;
    expect(await sweepSession([{ ...id, startTime: id.startTime + 1 }], noop)).toEqual([]);
    const hit = await sweepSession([id], noop);
    expect(hit).toContain(member);
    expect(hit).toContain(leader.pid);
  });
});
