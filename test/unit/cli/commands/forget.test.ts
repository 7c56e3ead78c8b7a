import { describe, expect, it } from 'vitest';
import { describeForget } from '../../../../src/cli/commands/forget.js';

describe('describeForget', () => {
  it('one line per removed, kept and left path, then the verdict; odd paths quoted', () => {
    const lines = describeForget({
      workspace: 'ws',
      removed: ['/h/workspaces/ws/workspace.json', '/h/workspaces/ws'],
      kept: [{ path: '/my src', reason: 'the source: never touched' }],
      left: [{ path: '/h/workspaces/ws/x\ny', reason: 'not a file mountie makes' }],
      ok: false,
    });
    expect(lines).toEqual([
      'ws: removed /h/workspaces/ws/workspace.json',
      'ws: removed /h/workspaces/ws',
      'ws: kept "/my src" (the source: never touched)',
      'ws: LEFT "/h/workspaces/ws/x\\ny": not a file mountie makes',
      'ws: forgotten, but some files are left (named above)',
    ]);
    expect(describeForget({ workspace: 'ws', removed: [], kept: [], left: [], ok: true })).toEqual(['ws: forgotten']);
  });
});
