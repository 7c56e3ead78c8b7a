import { readFileSync } from 'node:fs';

/** The version of this package (from the package.json beside dist/). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    // A copied dist/ without package.json still runs; it just cannot say its version.
    return '0.0.0';
  }
}
