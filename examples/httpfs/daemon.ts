// httpfs: a read-only file system of the files an HTTP server serves. Options: { url, timeoutMs? }.
// The listing is GET <url>/index.json, read once at mount: { "<path>": <size in bytes> }, e.g.
// { "a.txt": 6, "docs/b.md": 12 } (directories follow from the paths). A read is GET <url>/<path>
// with a Range header. Every request is bounded by timeoutMs (default 2000) and by the daemon's
// shutdown; one that fails, times out or answers other than 2xx makes the operation answer EIO.
import { constants as fs } from 'node:fs';
import { constants as os } from 'node:os';
import { defineDaemon, defineKind, MountieError, type DaemonLog, type FsOps } from 'mountie';

/** What a launch passes (and workspace.json stores): `timeoutMs` may be left to its default. */
export interface HttpInput {
  readonly url: string;
  readonly timeoutMs?: number;
}

export interface HttpOptions {
  /** The server's base URL (http or https). */
  readonly url: string;
  /** The bound of every request, ms. */
  readonly timeoutMs: number;
}

const { ENOENT, ENOTDIR, EISDIR, EROFS, EIO } = os.errno;
/**
 * The core answers a request ETIMEDOUT at its per-op deadline (5 s by default,
 * MOUNTIE_OP_DEADLINE_MS) and drops a late answer: a bound much past it only keeps a request that
 * nobody waits for.
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

/**
 * Request `path` below the base URL and read its answer with `read`, the whole bounded by
 * `timeoutMs` and by `signal`; rejects on a network error, the timeout, `signal`, or a status
 * other than 2xx.
 */
export async function request<T>(opts: HttpOptions, path: string, signal: AbortSignal, read: (res: Response) => Promise<T>, init: RequestInit = {}): Promise<T> {
  const url = new URL(path.split('/').filter(Boolean).map(encodeURIComponent).join('/'), opts.url);
  // AbortSignal.any holds its sources weakly: in Node 20 a timeout signal that nothing else
  // references can be garbage-collected before it fires, and the request then never times out
  // (seen: reads hung until the per-op deadline answered them). `deadline` stays referenced to the end.
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.any([signal, deadline]) });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined); // the status is the answer; the body is not needed
      throw new Error(`HTTP ${res.status}`);
    }
    return await read(res);
  } catch (err) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, …) is on its cause.
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    const why = deadline.aborted ? `no answer within ${opts.timeoutMs} ms` : `${err instanceof Error ? err.message : String(err)}${typeof code === 'string' ? ` (${code})` : ''}`;
    throw new Error(`${init.method ?? 'GET'} ${url.href}: ${why}`, { cause: err });
  }
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
  return parseIndex(await request(opts, 'index.json', signal, (res) => res.json()));
}

/** The operations: the listing answers metadata, the server the bytes; any failure of the server is EIO. */
export function httpOps(opts: HttpOptions, listing: Listing, signal: AbortSignal, log: DaemonLog, at = new Date()): FsOps {
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, atime: at, mtime: at, ctime: at };
  const no = (n: unknown, wrongType: number): number => (n === undefined ? -ENOENT : wrongType);
  async function readRange(path: string, size: number, buf: Buffer, len: number, pos: number): Promise<number> {
    const end = Math.min(size, pos + len);
    if (pos >= end) return 0;
    const range = { headers: { range: `bytes=${pos}-${end - 1}` } };
    const [status, body] = await request(opts, path, signal, async (res) => [res.status, Buffer.from(await res.arrayBuffer())] as const, range);
    // 206: the range asked for; 200: a server without ranges sent the whole file.
    return (status === 206 ? body : body.subarray(pos)).copy(buf, 0, 0, end - pos);
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

export const httpfs = defineDaemon<HttpOptions, HttpInput>({
  kind: defineKind({ name: 'httpfs', command: 'httpfs' }),
  module: import.meta.url,
  options: parseOptions,
  async mount(ctx) {
    const listing = await fetchListing(ctx.options, ctx.signal);
    ctx.log.info(`serving ${listing.size - 1} entries of ${ctx.options.url}`);
    return { ops: httpOps(ctx.options, listing, ctx.signal, ctx.log) };
  },
  /** Healthy while the server answers for its index (the harness bounds and schedules it). */
  probe: (ctx) => request(ctx.options, 'index.json', ctx.signal, async () => undefined, { method: 'HEAD' }),
});
