import { describe, expect, it } from 'vitest';
import { RunTree } from '../../../src/testing/run-tree.js';
import type { ProcStat } from '../../../src/sys/proc-stat-scan.js';

const p = (pid: number, ppid: number, startTime: number, comm = 'node', state = 'S'): ProcStat => ({ pid, ppid, startTime, comm, state, pgrp: 1, sid: 1 });
const pids = (l: readonly ProcStat[]): number[] => l.map((x) => x.pid).sort((a, b) => a - b);

// The session reaper's view of a run: the runner's descendants, still known once re-parented.
describe('RunTree', () => {
  it('follows the runner\'s descendants, and keeps them when the runner dies and they are re-parented', () => {
    const tree = new RunTree(100, 5, 999);
    // The runner, its reaper (self), a worker and the worker's child; an unrelated process.
    expect(pids(tree.update([p(1, 0, 1), p(100, 1, 5), p(999, 100, 6), p(101, 100, 7), p(102, 101, 8), p(50, 1, 9)]))).toEqual([101, 102]);
    // The runner is gone: the worker now has parent 1, and starts another child.
    expect(pids(tree.update([p(1, 0, 1), p(999, 1, 6), p(101, 1, 7), p(102, 101, 8), p(103, 101, 10), p(50, 1, 9), p(60, 1, 11)]))).toEqual([101, 102, 103]);
  });

  it('forgets a member whose pid now names another process, and zombies', () => {
    const tree = new RunTree(100, 5, 999);
    tree.update([p(100, 1, 5), p(101, 100, 7), p(102, 100, 8)]);
    // 101 was recycled (another start time, another parent); 102 is a zombie.
    expect(pids(tree.update([p(101, 1, 20), p(102, 100, 8, 'node', 'Z')]))).toEqual([]);
  });

  it('does not adopt the runner\'s children once the runner\'s pid names another process', () => {
    const tree = new RunTree(100, 5, 999);
    tree.update([p(100, 1, 5)]);
    expect(pids(tree.update([p(100, 1, 30), p(104, 100, 31)]))).toEqual([]);
  });
});
