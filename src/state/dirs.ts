import { chmod, mkdir } from 'node:fs/promises';
import { DIR_MODE } from './paths.js';

/** mkdir -p with mode 0700 on the leaf (umask may loosen what mkdir gives; chmod makes it exact). */
export async function ensureDir(dir: string, mode = DIR_MODE): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  await chmod(dir, mode);
}
