import { open } from 'node:fs/promises';

/** The last `lines` lines of a log file (reads at most the last 16 KiB). */
export async function readLogTail(path: string, lines: number): Promise<string[]> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, 16 * 1024);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      return buf.toString('utf8').split('\n').filter(Boolean).slice(-lines);
    } finally {
      await fh.close();
    }
  } catch {
    // No log yet (the daemon died before opening it): nothing to show.
    return [];
  }
}
