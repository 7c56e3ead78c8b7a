/**
 * Drive test/fixtures/slow-fs.mjs: a FUSE source whose reads hang until released, and whose
 * every op can be made to hang or fail (its header documents the protocol).
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO, spawnTracked } from './sandbox.js';
import { waitForOutput } from './cli.js';

export const SLOW_FS = join(REPO, 'test/fixtures/slow-fs.mjs');

export interface SlowFs {
  readonly child: ChildProcess;
  readonly mountpoint: string;
  /** Send one control line; resolves with its answer (OK ..., HUNG ..., ERR ...). */
  send(command: string, timeoutMs?: number): Promise<string>;
  /** Ops held right now (never answered yet). */
  hung(): Promise<number>;
}

/**
 * Start slow-fs at `mountpoint`, which must lie under the test home: the process carries
 * MOUNTIE_HOME=home so the reaper kills it, and its mount is below home so the reaper aborts it.
 */
export async function startSlowFs(home: string, mountpoint: string, args: readonly string[] = []): Promise<SlowFs> {
  const child = spawnTracked(process.execPath, [SLOW_FS, mountpoint, ...args], {
    env: { ...process.env, MOUNTIE_HOME: home },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  await waitForOutput(child, /^READY$/m, 15_000);
  // Answers come in the order of the commands: one waiter per line sent.
  const waiters: ((line: string) => void)[] = [];
  let buffered = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (/^(OK|HUNG|ERR)\b/.test(line)) waiters.shift()?.(line);
    }
  });
  const send = (command: string, timeoutMs = 5000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`slow-fs did not answer "${command}" within ${timeoutMs} ms`)), timeoutMs);
      waiters.push((line) => {
        clearTimeout(timer);
        if (line.startsWith('ERR')) reject(new Error(`slow-fs: ${line}`));
        else resolve(line);
      });
      child.stdin?.write(`${command}\n`);
    });
  return {
    child,
    mountpoint,
    send,
    hung: async () => Number(/^HUNG (\d+)/.exec(await send('count'))?.[1] ?? NaN),
  };
}
