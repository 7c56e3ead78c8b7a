/**
 * Decoys: processes that look like mountie daemons or lock holders and must never be signalled.
 * Each is recorded (pid + start time) once ready; `checkDecoys` then proves after every step that
 * each is still the same live process and not stopped. They are spawned tracked (reapAll kills
 * their groups) and carry the test home in MOUNTIE_HOME, so the home's reaper kills them too.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnCall, outputMatches, outputOf } from './run.js';
import { statOf } from './procfs.js';

export interface Decoy {
  readonly name: string;
  readonly pid: number;
  readonly startTime: number;
  readonly argv: readonly string[];
}

const SLEEPER = "process.stdout.write('READY\\n');\nsetInterval(() => {}, 1 << 30);\n";
const TITLED = "process.title = 'mountie-daemon';\nprocess.stdout.write('READY\\n');\nsetInterval(() => {}, 1 << 30);\n";
const SQUATTER = [
  "import { createServer } from 'node:net';",
  '// Binds an abstract socket name (argv[2], hex) and answers like a lock holder, naming itself.',
  "const name = Buffer.from(process.argv[2], 'hex').toString('latin1');",
  "const srv = createServer((c) => c.end(JSON.stringify({ pid: process.pid, instanceId: 'squatter' }) + '\\n'));",
  "srv.on('error', (e) => process.stdout.write('ERR ' + e.code + '\\n'));",
  "srv.listen(name, () => process.stdout.write('READY\\n'));",
  'setInterval(() => {}, 1 << 30);',
  '',
].join('\n');

/** The lock name today's src uses for (home, ws): `\0mountie-<uid>-<sha256(home \0 ws)[:32]>`. */
export function lockNameOf(home: string, ws: string): string {
  const digest = createHash('sha256').update(`${home}\0${ws}`).digest('hex').slice(0, 32);
  return `\0mountie-${process.getuid?.() ?? 0}-${digest}`;
}

/** Write the decoy scripts under `aux`: a fake mountie install (fake/), a titled sleeper, a squatter. */
export async function writeDecoyScripts(aux: string): Promise<{ fakeCli: string; titled: string; squatter: string }> {
  const fake = join(aux, 'fake');
  await mkdir(join(fake, 'dist/cli'), { recursive: true });
  await writeFile(join(fake, 'package.json'), JSON.stringify({ name: 'mountie', version: '0.0.0-decoy', type: 'module' }));
  await writeFile(join(fake, 'dist/cli/main.js'), SLEEPER);
  await writeFile(join(aux, 'titled.mjs'), TITLED);
  await writeFile(join(aux, 'squatter.mjs'), SQUATTER);
  return { fakeCli: join(fake, 'dist/cli/main.js'), titled: join(aux, 'titled.mjs'), squatter: join(aux, 'squatter.mjs') };
}

/** Start one decoy (`node script ...args` with MOUNTIE_HOME=home) and record it once it says READY. */
export async function startDecoy(name: string, script: string, args: readonly string[], home: string): Promise<Decoy> {
  const child = spawnCall({ cli: script, home, args });
  const text = outputOf(child);
  if (!(await outputMatches(child, text, /^READY$/m, 15_000)) || child.pid === undefined) throw new Error(`decoy ${name} did not start: ${text()}`);
  const st = await statOf(child.pid);
  if (!st) throw new Error(`decoy ${name} vanished`);
  return { name, pid: child.pid, startTime: st.startTime, argv: [process.execPath, script, ...args] };
}

/** Problems with the decoys: each must be the same live process, never stopped. */
export async function checkDecoys(decoys: readonly Decoy[]): Promise<string[]> {
  const bad: string[] = [];
  for (const d of decoys) {
    const st = await statOf(d.pid);
    if (!st || st.startTime !== d.startTime) bad.push(`decoy ${d.name} (pid ${d.pid}) is gone: something signalled a foreign process`);
    else if (st.state === 'Z') bad.push(`decoy ${d.name} (pid ${d.pid}) was killed (zombie)`);
    else if (st.state === 'T' || st.state === 't') bad.push(`decoy ${d.name} (pid ${d.pid}) was stopped (state ${st.state})`);
  }
  return bad;
}
