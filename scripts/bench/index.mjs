// Runs every benchmark in scripts/bench one after another (node scripts/bench/<name>.mjs for one).
// Not the data path (data.mjs: minutes, needs bindfs; `npm run bench:data`) nor its worker.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const dir = new URL('.', import.meta.url).pathname;
for (const f of readdirSync(dir).filter((n) => n.endsWith('.mjs') && !['index.mjs', 'data.mjs', 'data-work.mjs', 'ab-builds.mjs'].includes(n)).sort()) {
  console.log(`\n== ${f}`);
  const r = spawnSync(process.execPath, [dir + f], { stdio: 'inherit', timeout: 600_000 });
  if (r.status !== 0) console.log(`(${f} exited ${r.status ?? r.signal})`);
}
