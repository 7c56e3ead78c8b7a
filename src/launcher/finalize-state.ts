import { randomUUID } from 'node:crypto';
import { writeFileDurable } from '../state/atomic.js';
import { nextEpoch } from '../state/epoch.js';
import { readState } from '../state/state-schema.js';
import type { WorkspacePaths } from '../state/paths.js';

/**
 * After a daemon died without its own shutdown (SIGKILL, crash), state.json still says
 * active. `stop` corrects it to `stopped` with the reason, but only while holding the workspace
 * lock (callers guarantee it) and with a fresh epoch, so it can never overwrite a live daemon's
 * state and a daemon it did not see would be fenced by it, not the other way round.
 */
export async function finalizeDeadState(paths: WorkspacePaths, reason: string): Promise<boolean> {
  const doc = await readState(paths.state);
  if (!doc || doc.status === 'stopped' || doc.status === 'failed') return false;
  const epoch = await nextEpoch(paths.dir);
  const next = { ...doc, epoch, instanceId: `stop-${randomUUID()}`, writtenAt: new Date().toISOString(), status: 'stopped', reason };
  await writeFileDurable(paths.state, JSON.stringify(next));
  return true;
}
