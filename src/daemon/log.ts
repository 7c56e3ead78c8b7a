import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { FILE_MODE } from '../state/paths.js';

export interface Logger {
  info(msg: string): void;
  error(msg: string, err?: unknown): void;
  close(): void;
}

/**
 * The daemon's log. Writes are synchronous on purpose: a fatal error must reach the file before
 * the process exits, and lifecycle lines must not queue behind backend I/O on libuv's 4-thread
 * pool. The log never lives on the mount, so a sync write cannot deadlock on our own FUSE.
 */
export function openLogger(path: string, opts: { echo?: (line: string) => void; pid?: number } = {}): Logger {
  // O_NOFOLLOW: a daemon.log planted as a symlink must not get our lines appended to its target.
  let fd: number | undefined = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE);
  const pid = opts.pid ?? process.pid;
  let echo = opts.echo;
  const write = (level: string, msg: string): void => {
    const line = `${new Date().toISOString()} ${level} [${pid}] ${msg}\n`;
    if (fd !== undefined) {
      try {
        writeSync(fd, line);
      } catch {
        // A full disk must not take the daemon down with it; the line is lost, the mount lives.
      }
    }
    if (echo) {
      try {
        echo(line);
      } catch {
        // A closed terminal or pipe (EIO, EPIPE): the file has the line; echo no more.
        echo = undefined;
      }
    }
  };
  return {
    info: (msg) => write('INFO', msg),
    error: (msg, err) => write('ERROR', err === undefined ? msg : `${msg}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
    close: () => {
      if (fd === undefined) return;
      try {
        closeSync(fd);
      } catch {
        // Closing a log fd can only fail if it is already closed.
      }
      fd = undefined;
    },
  };
}
