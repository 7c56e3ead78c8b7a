// Runs every benchmark in scripts/bench one after another (node scripts/bench/<name>.mjs for one).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const dir = new URL('.', import.meta.url).pathname;
for (const f of readdirSync(dir).filter((n) => n.endsWith('.mjs') && n !== 'index.mjs').sort()) {
  console.log(`\n== ${f}`);
  const r = spawnSync(process.execPath, [dir + f], { stdio: 'inherit', timeout: 600_000 });
  if (r.status !== 0) console.log(`(${f} exited ${r.status ?? r.signal})`);
}
