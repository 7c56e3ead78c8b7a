/**
 * A client workload for live restarts (issue 21): test/fixtures/handover-client.mjs (cwd in the
 * mount, `r` held open for reading, `log` for appending, stats checking inode numbers, a relative
 * open) and a `find` loop in the mount, both counting failures. Started as tracked children
 * (reaped in teardown whatever happens).
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnTracked, waitFor } from './sandbox.js';

const CLIENT = new URL('../fixtures/handover-client.mjs', import.meta.url).pathname;

export interface ClientSummary {
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string;
  readonly appended: number;
  readonly listings: number;
  readonly maxMs: number;
}

export interface Workload {
  /** Stop both and return what they saw. */
  done(): Promise<{ client: ClientSummary; finds: number; findFailures: number; findFirstError: string }>;
}

/** The files the client uses, made in the source: their inode numbers by relative path. */
export async function seedSource(source: string): Promise<Record<string, string>> {
  await mkdir(join(source, 'd'), { recursive: true });
  await writeFile(join(source, 'r'), 'read me\n');
  await writeFile(join(source, 'log'), '');
  await writeFile(join(source, 'd/f'), 'f');
  for (let i = 0; i < 50; i++) await writeFile(join(source, 'd', `n${i}`), String(i));
  const inos: Record<string, string> = {};
  for (const p of ['r', 'log', 'd', 'd/f']) inos[p] = String((await stat(join(source, p))).ino);
  return inos;
}

export async function startWorkload(mnt: string, inos: Record<string, string>): Promise<Workload> {
  const client = spawnTracked(process.execPath, [CLIENT, `--inos=${JSON.stringify(inos)}`], { cwd: mnt });
  let out = '';
  client.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  client.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // find in a loop, in the mount: each run's exit status and its first error kept.
  const finder = spawnTracked('bash', ['-c', 'n=0; f=0; e=""; trap \'echo "FINDS $n $f $e"; exit 0\' TERM; while :; do if ! o=$(find . 2>&1 >/dev/null); then f=$((f+1)); [ -z "$e" ] && e=$(echo "$o" | head -1); fi; n=$((n+1)); done'], { cwd: mnt });
  let fout = '';
  finder.stdout?.on('data', (d: Buffer) => (fout += d.toString()));
  await waitFor('client STARTED', () => (out.includes('STARTED\n') ? true : undefined));
  return {
    async done() {
      client.kill('SIGTERM');
      finder.kill('SIGTERM');
      const line = await waitFor('client DONE', () => out.split('\n').find((l) => l.startsWith('DONE ')), 15_000);
      const fl = await waitFor('find loop FINDS', () => fout.split('\n').find((l) => l.startsWith('FINDS ')), 15_000);
      const [, n, f, ...e] = fl.split(' ');
      return { client: JSON.parse(line.slice(5)) as ClientSummary, finds: Number(n), findFailures: Number(f), findFirstError: e.join(' ') };
    },
  };
}
