// Runs every benchmark in scripts/bench one after another (node scripts/bench/<name>.mjs for one):
// the data-path table first (data.mjs, about 4 minutes; needs root and bindfs, writes BENCHMARKS.md),
// then the rest in name order. Not data-work.mjs (data.mjs's worker), ab-builds.mjs (needs OLD=) nor
// cpu-compare.mjs (a lever tool: it needs the commands to compare as arguments), nor
// proc-lib.mjs (helpers the scripts share).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const dir = new URL('.', import.meta.url).pathname;
const rest = readdirSync(dir).filter((n) => n.endsWith('.mjs') && !['index.mjs', 'data.mjs', 'data-work.mjs', 'ab-builds.mjs', 'cpu-compare.mjs', 'proc-lib.mjs'].includes(n)).sort();
for (const f of ['data.mjs', ...rest]) {
  console.log(`\n== ${f}`);
  const r = spawnSync(process.execPath, [dir + f], { stdio: 'inherit', timeout: 600_000 });
  if (r.status !== 0) console.log(`(${f} exited ${r.status ?? r.signal})`);
}
