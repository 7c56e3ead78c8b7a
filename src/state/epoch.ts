/**
 * Epochs are the fencing tokens of state writers: each daemon start takes the next one, and a
 * writer stops for good when it sees a higher epoch on disk (see writer.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MountieError, errnoCode } from '../errors.js';
import { writeFileDurable } from './atomic.js';

export const EPOCH_FILE = 'epoch';
export const STATE_FILE = 'state.json';

/**
 * Read `<wsDir>/epoch`, store the next epoch durably, and return it (1 when there is no file).
 *
 * Call ONLY while holding the workspace lock: the lock is what makes this read-modify-write
 * safe; two callers without it could both get the same epoch.
 *
 * The result is also above the epoch recorded in `<wsDir>/state.json`, so a lost or deleted
 * epoch file can never hand out an epoch that the old state file would fence.
 */
export async function nextEpoch(wsDir: string): Promise<number> {
  const path = join(wsDir, EPOCH_FILE);
  const stored = await readEpochFile(path);
  const next = Math.max(stored ?? 0, await stateFileEpoch(join(wsDir, STATE_FILE))) + 1;
  try {
    await writeFileDurable(path, JSON.stringify({ epoch: next }) + '\n');
  } catch (err) {
    throw new MountieError('ERR_INTERNAL', `cannot write ${path}: ${errnoCode(err) ?? String(err)}`, {
      data: { path, errno: errnoCode(err) },
      cause: err,
    });
  }
  return next;
}

/** Accepts `{"epoch": n}` or a bare integer; undefined for anything else. */
export function parseEpoch(text: string): number | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // Not JSON at all: the caller reports the file as corrupt.
    return undefined;
  }
  const n = typeof v === 'object' && v !== null ? (v as { epoch?: unknown }).epoch : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

async function readEpochFile(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new MountieError('ERR_INTERNAL', `cannot read ${path}: ${errnoCode(err) ?? String(err)}`, {
      data: { path, errno: errnoCode(err) },
      cause: err,
    });
  }
  const n = parseEpoch(text);
  // Written only by writeFileDurable, so garbage means tampering or a failing disk: guessing a
  // fencing token could let a zombie win, so refuse and let a person look.
  if (n === undefined) {
    throw new MountieError('ERR_CONFIG_CORRUPT', `epoch file ${path} is corrupt`, {
      data: { path, value: text.slice(0, 100) },
      hint: 'Stop every daemon of this workspace, then delete the file; the next start recreates it.',
    });
  }
  return n;
}

/** The epoch in the state file, 0 when it is missing or unreadable (it only raises the floor). */
async function stateFileEpoch(path: string): Promise<number> {
  try {
    const v: unknown = JSON.parse(await readFile(path, 'utf8'));
    const n = typeof v === 'object' && v !== null ? (v as { epoch?: unknown }).epoch : undefined;
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : 0;
  } catch {
    // Missing or corrupt state file: no floor from it; the epoch file alone decides.
    return 0;
  }
}
