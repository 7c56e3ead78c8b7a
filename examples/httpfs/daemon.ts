// httpfs: a read-only file system of the files an HTTP server serves. Options: { url, timeoutMs? }.
// The listing is GET <url>/index.json, read once at mount: { "<path>": <size in bytes> }, e.g.
// { "a.txt": 6, "docs/b.md": 12 } (directories follow from the paths). A read is GET <url>/<path>
// with a Range header. Every request is bounded by timeoutMs (default 2000) and by the daemon's
// shutdown; one that fails, times out or answers other than 2xx makes the operation answer EIO.
import { constants as fs } from 'node:fs';
import { constants as os } from 'node:os';
import { defineDaemon, defineKind, MountieError, type FsOps, type DaemonLog } from 'mountie/daemon';

export interface HttpOptions {
  /** The server's base URL (http or https). */
  readonly url: string;
  /** The bound of every request, ms. */
  readonly timeoutMs: number;
}

const { ENOENT, ENOTDIR, EISDIR, EROFS, EIO } = os.errno;
/**
 * Below fuse-native's own 15 s per-operation timeout: past it the kernel has been answered and the
 * read buffer FUSE lent us is gone, so a late response must never be copied into it.
 */
const MAX_TIMEOUT_MS = 10_000;

function invalid(message: string, value: unknown): MountieError {
  return new MountieError('ERR_INVALID_OPTION', message, { data: { value }, hint: 'give {"url": "http://host:port/", "timeoutMs": 2000}' });
}

/** The options parser: `{ url, timeoutMs? }`; anything else is refused (exit 2, nothing written). */
export function parseOptions(raw: unknown): HttpOptions {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('options must be an object', raw);
  const { url, timeoutMs = 2000, ...rest } = raw as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw invalid(`unknown option ${JSON.stringify(extra)}`, extra);
  if (typeof url !== 'string' || !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw invalid(`url must be an http:// or https:// URL, got ${JSON.stringify(url)}`, url);
  }
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw invalid(`timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(timeoutMs)}`, timeoutMs);
  }
  return { url: url.endsWith('/') ? url : `${url}/`, timeoutMs };
}

/** GET `path` below the base URL, bounded; rejects on a network error, the timeout, `signal` or a status other than 2xx. */
export async function get(opts: HttpOptions, path: string, signal: AbortSignal, init: RequestInit = {}): Promise<Response> {
  const url = new URL(path.split('/').filter(Boolean).map(encodeURIComponent).join('/'), opts.url);
  const res = await fetch(url, { ...init, signal: AbortSignal.any([signal, AbortSignal.timeout(opts.timeoutMs)]) });
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined); // the status is the answer; the body is not needed
    throw new Error(`${init.method ?? 'GET'} ${url.href}: HTTP ${res.status}`);
  }
  return res;
}

/** What httpfs serves, by path ("/", "/docs", "/docs/b.md"): a file's size, or a directory's names. */
export type Listing = Map<string, number | string[]>;

/** The listing of an index.json document; throws on anything but `{ "<path>": <size> }`. */
export function parseIndex(doc: unknown): Listing {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('index.json is not an object');
  const listing: Listing = new Map([['/', []]]);
  for (const [file, size] of Object.entries(doc)) {
    const names = file.split('/').filter(Boolean);
    if (names.length === 0 || names.some((n) => n === '.' || n === '..')) throw new Error(`index.json: bad path ${JSON.stringify(file)}`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new Error(`index.json: bad size for ${file}`);
    let dir = '/';
    for (const [i, name] of names.entries()) {
      const path = `${dir === '/' ? '' : dir}/${name}`;
      const parent = listing.get(dir);
      if (!Array.isArray(parent)) throw new Error(`index.json: ${dir} is both a file and a directory`);
      if (!listing.has(path)) parent.push(name);
      if (i === names.length - 1) {
        if (listing.has(path)) throw new Error(`index.json: ${path} is listed twice or is also a directory`);
        listing.set(path, size);
      } else if (!listing.has(path)) listing.set(path, []);
      dir = path;
    }
  }
  return listing;
}

/** Fetch and parse the listing (at mount: a server that is not there fails the mount). */
export async function fetchListing(opts: HttpOptions, signal: AbortSignal): Promise<Listing> {
  return parseIndex(await (await get(opts, 'index.json', signal)).json());
}

/** The operations: the listing answers metadata, the server the bytes; any failure of the server is EIO. */
export function httpOps(opts: HttpOptions, listing: Listing, signal: AbortSignal, log: DaemonLog, at = new Date()): FsOps {
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, atime: at, mtime: at, ctime: at };
  const no = (n: unknown, wrongType: number): number => (n === undefined ? -ENOENT : wrongType);
  async function readRange(path: string, size: number, buf: Buffer, len: number, pos: number): Promise<number> {
    const end = Math.min(size, pos + len);
    if (pos >= end) return 0;
    const res = await get(opts, path, signal, { headers: { range: `bytes=${pos}-${end - 1}` } });
    const body = Buffer.from(await res.arrayBuffer());
    // 206: the range asked for; 200: a server without ranges sent the whole file.
    return (res.status === 206 ? body : body.subarray(pos)).copy(buf, 0, 0, end - pos);
  }
  return {
    getattr(path, cb) {
      const n = listing.get(path);
      if (n === undefined) cb(-ENOENT);
      else if (typeof n === 'number') cb(0, { ...owner, mode: 0o100444, size: n });
      else cb(0, { ...owner, mode: 0o40555, size: n.length });
    },
    readdir: (path, cb) => { const n = listing.get(path); if (Array.isArray(n)) cb(0, n); else cb(no(n, -ENOTDIR)); },
    open(path, flags, cb) {
      const n = listing.get(path);
      cb(typeof n !== 'number' ? no(n, -EISDIR) : flags & (fs.O_WRONLY | fs.O_RDWR) ? -EROFS : 0);
    },
    read(path, _fd, buf, len, pos, cb) {
      const n = listing.get(path);
      if (typeof n !== 'number') return cb(no(n, -EISDIR));
      readRange(path, n, buf, len, pos).then(cb, (err: unknown) => {
        log.error(`read ${path} at ${pos}: EIO`, err);
        cb(-EIO);
      });
    },
    release: (_path, _fd, cb) => cb(0),
  };
}

export const httpfs = defineDaemon({
  kind: defineKind({ name: 'httpfs' }),
  module: import.meta.url,
  options: parseOptions,
  async mount(ctx) {
    const listing = await fetchListing(ctx.options, ctx.signal);
    ctx.log.info(`serving ${listing.size - 1} entries of ${ctx.options.url}`);
    return { ops: httpOps(ctx.options, listing, ctx.signal, ctx.log) };
  },
  /** Healthy while the server answers for its index (the harness bounds and schedules it). */
  probe: async (ctx) => void (await get(ctx.options, 'index.json', ctx.signal, { method: 'HEAD' })),
});
