/**
 * The small part of semver ranges that package.json `engines` uses here: `||` of space-separated
 * comparators (`>=20.5`, `<21`, `>22.1.0`, `=20`, bare `20.5.0`). Anything else is "unknown",
 * never a guess.
 */
type Triple = readonly [number, number, number];

function parse(v: string): Triple | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(v.trim());
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

function cmp(a: Triple, b: Triple): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** true/false when `range` is understood, undefined when it is not. */
export function satisfies(version: string, range: string): boolean | undefined {
  const v = parse(version);
  if (!v) return undefined;
  let any = false;
  for (const alt of range.split('||')) {
    const parts = alt.trim().split(/\s+/).filter(Boolean);
    if (parts.length === 0) return undefined;
    let all = true;
    for (const p of parts) {
      const m = /^(>=|<=|>|<|=)?(.+)$/.exec(p);
      const bound = m ? parse(m[2] ?? '') : undefined;
      if (!m || !bound) return undefined;
      const c = cmp(v, bound);
      const ok = { '>=': c >= 0, '<=': c <= 0, '>': c > 0, '<': c < 0, '=': c === 0 }[m[1] ?? '='];
      if (!ok) all = false;
    }
    if (all) any = true;
  }
  return any;
}
