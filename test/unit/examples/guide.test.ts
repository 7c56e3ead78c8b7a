/**
 * docs/GUIDE.md shows the memfs example's files in full: each listing must be the file itself
 * (so the guide never drifts from what the tests run), and the definition must stay under 50
 * lines (counted as `wc -l` counts them), none over 120 characters.
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO } from '../../helpers/sandbox.js';

const guide = await readFile(join(REPO, 'docs/GUIDE.md'), 'utf8');
const listings = [...guide.matchAll(/<!-- guide-file: (\S+) -->\n```ts\n([\s\S]*?)```\n/g)].map((m) => ({ file: m[1] as string, text: m[2] as string }));

describe('docs/GUIDE.md', () => {
  it('shows the memfs definition and its command', () => {
    expect(listings.map((l) => l.file)).toEqual(['examples/memfs/daemon.ts', 'examples/memfs/cli.ts']);
  });

  it.each(listings)('the listing of $file is the file, byte for byte', async ({ file, text }) => {
    expect(text).toBe(await readFile(join(REPO, file), 'utf8'));
  });

  it('the definition is under 50 lines, none longer than 120 characters, and the guide (README, TOOLKIT) says how many', async () => {
    const lines = (await readFile(join(REPO, 'examples/memfs/daemon.ts'), 'utf8')).split('\n').slice(0, -1);
    expect(lines.length).toBeLessThan(50);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(120);
    expect(guide).toContain(`${lines.length} lines, counted with \`wc -l\``);
    const cli = (await readFile(join(REPO, 'examples/memfs/cli.ts'), 'utf8')).split('\n').length - 1;
    expect(guide).toContain(`its definition is\n${lines.length} lines, its command ${cli}.`);
    // README and TOOLKIT quote the count too.
    expect(await readFile(join(REPO, 'README.md'), 'utf8')).toContain(`(examples/memfs/daemon.ts), ${lines.length} lines;`);
    expect(await readFile(join(REPO, 'docs/TOOLKIT.md'), 'utf8')).toContain(`(memfs, ${lines.length} lines)`);
  });
});
