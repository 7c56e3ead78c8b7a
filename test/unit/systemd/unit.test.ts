import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activationCommands, envAssignment, execWord, renderUnit, UNIT_TIMEOUT_STOP_SEC, DAEMON_SHUTDOWN_DEADLINE_SEC, type UnitOptions } from '../../../src/systemd/unit.js';
import { DEFAULT_GRACE_MS } from '../../../src/launcher/stop.js';

const base: UnitOptions = {
  workspace: 'ws',
  scope: 'user',
  node: '/usr/bin/node',
  cli: '/opt/mountie/dist/cli/bin.cjs',
  home: '/home/u/.local/state/mountie',
  source: '/data/src',
  mountpoint: '/home/u/.local/state/mountie/mnt/ws',
  version: '0.1.0',
  grace: 7000,
};

function keys(unit: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const l of unit.split('\n')) {
    const i = l.indexOf('=');
    if (i > 0 && !l.startsWith('#')) m.set(l.slice(0, i), [...(m.get(l.slice(0, i)) ?? []), l.slice(i + 1)]);
  }
  return m;
}

describe('renderUnit', () => {
  it('a notify service running the foreground mount, cleaned by stop, killed mixed, restarted on failure', () => {
    const k = keys(renderUnit(base));
    expect(k.get('Type')).toEqual(['notify']);
    expect(k.get('NotifyAccess')).toEqual(['all']);
    expect(k.get('ExecStart')).toEqual(['/usr/bin/node /opt/mountie/dist/cli/bin.cjs mount ws']);
    expect(k.get('ExecStopPost')).toEqual(['/usr/bin/node /opt/mountie/dist/cli/bin.cjs stop ws --grace 7000']);
    expect(k.get('Environment')).toEqual(['MOUNTIE_HOME=/home/u/.local/state/mountie']);
    expect(k.get('KillMode')).toEqual(['mixed']);
    expect(k.get('Restart')).toEqual(['on-failure']);
    expect(k.get('RestartPreventExitStatus')).toEqual(['2 3']);
    expect(k.get('WantedBy')).toEqual(['default.target']);
    expect(k.has('User')).toBe(false);
  });

  it('TimeoutStopSec is above the daemon shutdown deadline and above stop’s grace', () => {
    expect(UNIT_TIMEOUT_STOP_SEC).toBeGreaterThan(DAEMON_SHUTDOWN_DEADLINE_SEC + 3);
    expect(UNIT_TIMEOUT_STOP_SEC * 1000).toBeGreaterThan(DEFAULT_GRACE_MS);
    expect(keys(renderUnit(base)).get('TimeoutStopSec')).toEqual([`${UNIT_TIMEOUT_STOP_SEC}s`]);
  });

  it('a system unit: multi-user.target, ordered after remote file systems, User= when given', () => {
    const k = keys(renderUnit({ ...base, scope: 'system', user: 'alice', group: 'alice' }));
    expect(k.get('WantedBy')).toEqual(['multi-user.target']);
    expect(k.get('After')?.[0]).toContain('remote-fs.target');
    expect(k.get('User')).toEqual(['alice']);
  });

  it('paths with spaces, %, $, quotes and newlines are quoted and escaped for systemd', () => {
    expect(execWord('/a b/c')).toBe('"/a b/c"');
    expect(execWord('/100%')).toBe('"/100%%"');
    expect(execWord('/$HOME')).toBe('"/$$HOME"');
    expect(execWord('/a"b')).toBe('"/a\\"b"');
    expect(execWord('/a\nb')).toBe('"/a\\x0ab"');
    expect(envAssignment('MOUNTIE_HOME', '/x $y%')).toBe('"MOUNTIE_HOME=/x $y%%"');
    const unit = renderUnit({ ...base, home: '/srv/my home', mountpoint: '/mnt/a\nb' });
    // One logical line per key: a newline in a path never starts a new one.
    expect(unit).toContain('/mnt/a\\x0ab');
    expect(unit.split('\n').filter((l) => l.startsWith('b'))).toEqual([]);
    expect(unit).toContain('Environment="MOUNTIE_HOME=/srv/my home"');
  });

  it('the systemctl commands: --user for user units, sudo for a user installing a system unit', () => {
    expect(activationCommands('user', 'ws', true)).toContain('systemctl --user enable --now mountie-ws.service');
    expect(activationCommands('system', 'ws', true)).toContain('sudo systemctl enable --now mountie-ws.service');
    expect(activationCommands('system', 'ws', false)).toContain('systemctl daemon-reload');
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  it.skipIf(!analyze)('systemd-analyze verify accepts it, odd paths included (the ExecStart binary must exist)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mountie-unit-'));
    try {
      for (const [i, o] of [base, { ...base, scope: 'system' as const, user: 'root', home: '/srv/a b/100%/$x', mountpoint: '/mnt/"q"' }].entries()) {
        const file = join(dir, `mountie-t${i}.service`);
        writeFileSync(file, renderUnit({ ...o, node: process.execPath, cli: process.execPath }));
        execFileSync('systemd-analyze', ['verify', file], { encoding: 'utf8', stdio: 'pipe', timeout: 30_000 });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
