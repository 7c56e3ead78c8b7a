/**
 * mountie's own daemon: the passthrough of a workspace's `source`, defined with the same
 * `defineDaemon` a third party uses. Its options are `{ source }`, which the harness reads from
 * mountie's workspace.json (`source` stays a top-level field there: a user contract); the launcher
 * checked the source already (src/state/plan.ts), the data path checks it again as it mounts.
 */
import { MountieError } from '../../errors.js';
import { MOUNTIE } from '../../protocol/kind.js';
import { defineDaemon } from '../define.js';

/** The passthrough's options: the directory it serves. */
export interface PassthroughOptions {
  readonly source: string;
}

function parsePassthroughOptions(raw: unknown): PassthroughOptions {
  const source = (raw as { source?: unknown } | null | undefined)?.source;
  if (typeof source !== 'string' || !source.startsWith('/')) {
    throw new MountieError('ERR_INVALID_OPTION', 'the passthrough needs an absolute source directory', { data: { option: '--source', value: source }, hint: 'pass a directory with --source' });
  }
  return { source };
}

/** mountie's passthrough daemon (kind MOUNTIE). */
export const passthroughDaemon = defineDaemon<PassthroughOptions>({
  kind: MOUNTIE,
  module: import.meta.url,
  options: parsePassthroughOptions,
  mount: (ctx) => ({ passthrough: { source: ctx.options.source } }),
});
