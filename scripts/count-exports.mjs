// The public API's size: the runtime names a consumer can import, over every subpath export of
// package.json (a namespace re-export counts its members, not itself). Needs a build (dist/).
// Usage: node scripts/count-exports.mjs [--list]
import { readFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const names = new Set();
const isNamespace = (v) => v !== null && typeof v === 'object' && v[Symbol.toStringTag] === 'Module';
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (subpath.endsWith('.json')) continue;
  const mod = await import(new URL(target, root).href);
  const own = [];
  for (const [k, v] of Object.entries(mod)) {
    if (isNamespace(v)) for (const k2 of Object.keys(v)) own.push(k2);
    else own.push(k);
  }
  for (const n of own) names.add(n);
  console.log(`${subpath}\t${own.length}${process.argv.includes('--list') ? `\t${own.sort().join(' ')}` : ''}`);
}
console.log(`distinct\t${names.size}`);
