import { fileURLToPath } from 'node:url';

/** The CLI entry file (what a daemon is started with) and the package version beside it. */
export const CLI_PATH = fileURLToPath(new URL('./main.js', import.meta.url));

export { packageVersion } from '../sys/version.js';
