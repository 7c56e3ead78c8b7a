/**
 * A kind's own durable state (`ctx.data`, issue 23): one JSON document per workspace, in
 * `<workspace>/data.json`, written by the same single-writer, fenced, fsynced StateWriter as
 * state.json (src/state/writer). `save` resolves once the document is on disk (written to a temp
 * file, fsynced, renamed, the directory fsynced), so a daemon killed at any instant leaves either
 * the last document whose save resolved or a later one, never a torn one. Fenced by the daemon's
 * epoch: a daemon that lost the workspace to a newer one can no longer save (ERR_FENCED). The
 * writer exists from the first save on: a kind that never saves leaves no file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MountieError, errnoCode } from '../errors.js';
import { StateWriter } from '../state/writer/writer.js';

export const DATA_FILE = 'data.json';
export const DATA_SCHEMA = 'mountie.data/v1';

/** What `ctx.data` offers a kind's daemon. */
export interface DataStore {
  /**
   * The document the last daemon of this workspace saved, or undefined when none did.
   * @throws {@link MountieError} `ERR_DATA_CORRUPT` when data.json is there but not such a document (it is left as it is).
   */
  load(): Promise<unknown>;
  /**
   * Save `doc` (JSON-serialisable: the whole document, replacing the last one). Resolves once it is
   * durable. Saves made in a row are coalesced: each resolves once a document at least as new is on disk.
   * @throws {@link MountieError} `ERR_INVALID_OPTION` when `doc` is not JSON-serialisable, `ERR_FENCED`
   * when a newer daemon owns the workspace.
   */
  save(doc: unknown): Promise<void>;
}

export interface OpenedDataStore extends DataStore {
  /** Flush what was saved and close (shutdown); bounded. */
  close(timeoutMs: number): Promise<void>;
}

type Doc = { data: unknown };

export function openDataStore(dir: string, epoch: number, instanceId: string): OpenedDataStore {
  const path = join(dir, DATA_FILE);
  let writer: StateWriter<Doc> | undefined;
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw new MountieError('ERR_DATA_CORRUPT', `cannot read ${path}: ${errnoCode(err) ?? String(err)}`, { data: { path }, hint: `check ${path}`, cause: err });
      }
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (err) {
        throw new MountieError('ERR_DATA_CORRUPT', `${path} is not JSON`, { data: { path }, hint: `it was not written by mountie; move it away to start with no data`, cause: err });
      }
      if (typeof v !== 'object' || v === null || (v as { schema?: unknown }).schema !== DATA_SCHEMA || !('data' in v)) {
        throw new MountieError('ERR_DATA_CORRUPT', `${path} is not a ${DATA_SCHEMA} document`, { data: { path }, hint: `it was not written by mountie; move it away to start with no data` });
      }
      return (v as Doc).data;
    },
    async save(doc) {
      let json: string | undefined;
      try {
        json = JSON.stringify(doc);
      } catch (err) {
        throw new MountieError('ERR_INVALID_OPTION', `ctx.data.save: the document is not JSON-serialisable: ${(err as Error).message}`, { cause: err });
      }
      if (json === undefined) throw new MountieError('ERR_INVALID_OPTION', 'ctx.data.save: the document is not JSON-serialisable (undefined, a function or a symbol)');
      // A copy: what the author changes after save() is not what was saved.
      const data = JSON.parse(json) as unknown;
      if (!writer) {
        writer = new StateWriter<Doc>({ path, epoch, instanceId, schema: DATA_SCHEMA, initial: { data }, mode: 0o600 });
      } else writer.update({ data });
      await writer.flush();
      const fenced = writer.fenced();
      if (fenced) throw new MountieError('ERR_FENCED', `ctx.data.save: ${fenced.reason}`, { data: { path } });
    },
    async close(timeoutMs) {
      await writer?.close({ timeoutMs });
    },
  };
}
