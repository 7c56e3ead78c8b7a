import { describe, expect, it } from 'vitest';
import { line, table } from '../../../src/cli/commands/status.js';
import type { WorkspaceStatus } from '../../../src/launcher/inspect.js';

function ws(over: Partial<WorkspaceStatus>): WorkspaceStatus {
  return {
    workspace: 'ws',
    verdict: 'stopped',
    tokens: ['stopped'],
    known: true,
    mountpoint: undefined,
    source: undefined,
    mounted: false,
    mountpoints: [],
    logFile: '/h/workspaces/ws/daemon.log',
    daemon: undefined,
    orphans: [],
    starting: [],
    handingOver: [],
    stalePidfile: undefined,
    staleMount: false,
    configError: undefined,
    state: undefined,
    ...over,
  };
}

const running = ws({
  workspace: 'alpha',
  verdict: 'running',
  tokens: ['running(pid=42)'],
  mountpoint: '/h/mnt/alpha',
  mountpoints: ['/h/mnt/alpha', '/elsewhere'],
  daemon: { pid: 42, uptimeSec: 90, argv: [], holdsLock: true },
  state: { status: 'active', cursor: 7, health: { ok: true } } as WorkspaceStatus['state'],
});
const corrupt = ws({ workspace: 'b', verdict: 'failed', configError: 'bad json' });

describe('status text', () => {
  it('the line form (pipes, scripts): fields two spaces apart, in the old order, the log path last', () => {
    expect(line(running)).toBe('alpha  running(pid=42)  /h/mnt/alpha  also-mounted=/elsewhere  up 90s  cursor=7  state=active  log=/h/workspaces/ws/daemon.log');
    expect(line(corrupt)).toBe('b  stopped  config=corrupt  log=/h/workspaces/ws/daemon.log');
  });

  it('the table (terminals): a header, aligned columns, colour only when asked', () => {
    expect(table([running, corrupt], false)).toEqual([
      'WORKSPACE  STATUS           MOUNTPOINT    UPTIME  DETAILS',
      'alpha      running(pid=42)  /h/mnt/alpha  up 90s  also-mounted=/elsewhere  cursor=7  state=active  log=/h/workspaces/ws/daemon.log',
      'b          stopped                                config=corrupt  log=/h/workspaces/ws/daemon.log',
    ]);
    const coloured = table([running, corrupt], true);
    expect(coloured[1]).toContain('\x1b[32mrunning(pid=42)\x1b[0m');
    expect(coloured[2]).toContain('\x1b[31mstopped\x1b[0m');
  });
});
