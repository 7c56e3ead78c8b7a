import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The CLI entry file (what a daemon is started with) and the package version beside it. */
export const CLI_PATH = fileURLToPath(new URL('./main.js', import.meta.url));

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    // A copied dist/ without package.json still runs; it just cannot say its version.
    return '0.0.0';
  }
}
