import { describe, expect, it } from 'vitest';
import { MountieError } from '../../../src/errors.js';
import { defineKind, MOUNTIE } from '../../../src/protocol/kind.js';
import { defineDaemon, isMountieDaemon, validateOptions, type DaemonDefinition } from '../../../src/daemon/define.js';
import { findDaemon, parseChildArgs } from '../../../src/daemon/child.js';
import { passthroughDaemon } from '../../../src/daemon/passthrough/daemon.js';

const MEMFS = defineKind({ name: 'memfs' });
const good: DaemonDefinition<{ n: number }> = {
  kind: MEMFS,
  module: import.meta.url,
  options: (raw) => {
    const n = (raw as { n?: unknown } | undefined)?.n;
    if (typeof n !== 'number') throw new MountieError('ERR_INVALID_OPTION', 'n must be a number');
    return { n };
  },
  mount: () => ({ ops: {} }),
};

describe('defineDaemon', () => {
  it('returns the definition frozen, with its kind and module, and does nothing else', () => {
    let mounted = 0;
    const d = defineDaemon({ ...good, mount: () => (mounted++, { ops: {} }) });
    expect(d.kind).toBe(MEMFS);
    expect(d.module).toBe(import.meta.url);
    expect(Object.isFrozen(d) && Object.isFrozen(d.definition)).toBe(true);
    expect(isMountieDaemon(d)).toBe(true);
    expect(isMountieDaemon({ kind: MEMFS, module: import.meta.url, definition: good })).toBe(false);
    expect(mounted).toBe(0);
  });

  it.each([
    ['no kind', { ...good, kind: undefined }],
    ['a hand-made kind', { ...good, kind: { name: 'memfs' } }],
    ['a module that is no URL', { ...good, module: 'daemon.js' }],
    ['a module that is no file: URL', { ...good, module: 'https://example.com/d.js' }],
    ['no mount', { ...good, mount: undefined }],
    ['an options that is no function', { ...good, options: { n: 1 } }],
    ['a probe that is no function', { ...good, probe: 'x' }],
    ['a shutdown that is no function', { ...good, shutdown: 1 }],
  ])('refuses %s', (_what, def) => {
    expect(() => defineDaemon(def as unknown as DaemonDefinition<unknown>)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_DEFINITION' }));
  });

  it("validates options with the definition's parser; every failure is ERR_INVALID_OPTION", () => {
    expect(validateOptions(good, { n: 2 }, 'ws')).toEqual({ n: 2 });
    expect(() => validateOptions(good, { n: 'x' }, 'ws')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    const throwsPlain = { ...good, options: () => { throw new TypeError('boom'); } };
    expect(() => validateOptions(throwsPlain, {}, 'ws')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('boom') }));
    const none = { ...good, options: undefined };
    expect(validateOptions(none, undefined, 'ws')).toBeUndefined();
    expect(() => validateOptions(none, { n: 1 }, 'ws')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });

  it("defines mountie's passthrough like any other daemon: kind MOUNTIE, options { source }", async () => {
    expect(passthroughDaemon.kind).toBe(MOUNTIE);
    expect(validateOptions(passthroughDaemon.definition, { source: '/srv' }, 'ws')).toEqual({ source: '/srv' });
    expect(() => validateOptions(passthroughDaemon.definition, {}, 'ws')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    const served = await passthroughDaemon.definition.mount({ workspace: 'ws', mountpoint: '/m', options: { source: '/srv' }, readOnly: false, signal: new AbortController().signal, log: { info: () => undefined, error: () => undefined }, dir: '/nowhere', data: { load: async () => undefined, save: async () => undefined } });
    expect(served).toEqual({ passthrough: { source: '/srv' } });
  });
});

describe('the daemon child', () => {
  it('parses its argv, and refuses anything else', () => {
    expect(parseChildArgs(['file:///d.js', 'ws', '--kind', 'memfs', '--instance', 'abc-1'])).toEqual({ module: 'file:///d.js', workspace: 'ws', kind: MEMFS, instanceId: 'abc-1' });
    expect(parseChildArgs(['file:///d.js', 'ws', '--kind', 'mountie', '--instance', 'abc']).kind).toBe(MOUNTIE);
    for (const argv of [[], ['file:///d.js'], ['file:///d.js', 'ws', '--kind', 'memfs'], ['file:///d.js', 'ws', '--instance', 'a', '--other', 'x'], ['file:///d.js', 'WS', '--instance', 'a'], ['file:///d.js', 'ws', '--kind', 'Bad', '--instance', 'a']]) {
      expect(() => parseChildArgs(argv)).toThrow(MountieError);
    }
  });

  it('finds the exported daemon of its kind in the module, and says so when there is none', async () => {
    const mod = new URL('../../../src/daemon/passthrough/daemon.ts', import.meta.url).href;
    expect(await findDaemon(mod, MOUNTIE)).toBe(passthroughDaemon);
    await expect(findDaemon(mod, MEMFS)).rejects.toMatchObject({ code: 'ERR_INVALID_DEFINITION' });
    await expect(findDaemon(new URL('./no-such-module.js', import.meta.url).href, MEMFS)).rejects.toMatchObject({ code: 'ERR_INVALID_DEFINITION' });
  });
});
