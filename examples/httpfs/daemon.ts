// httpfs: a read-only file system of the files an HTTP server serves. Options: { url, timeoutMs? }.
// The listing is GET <url>/index.json, read once at mount: { "<path>": <size in bytes> }, e.g.
// { "a.txt": 6, "docs/b.md": 12 } (directories follow from the paths). A read is GET <url>/<path>
// with a Range header. Every request is bounded by timeoutMs (default 2000) and by the daemon's
// shutdown; one that fails, times out or answers other than 2xx makes the operation answer EIO.
import { constants as fs } from 'node:fs';
import { defineDaemon, defineKind, FsError, MountieError, type DaemonLog, type ErrnoName, type FileSystem } from 'mountie';

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

/**
 * The largest request bound a launch may ask for. A read still waiting at the core's own deadline
 * (`MOUNTIE_OP_DEADLINE_MS`, 5 s by default) is answered ETIMEDOUT there; its late answer is dropped.
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
  // (seen: reads hung until the FUSE layer's own per-operation limit). `deadline` stays referenced to the end.
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

/**
 * The file system: the listing answers metadata, the server the bytes (`read` answers the body it
 * fetched, no copy); any failure of the server is EIO, logged with its reason.
 */
export function httpFs(opts: HttpOptions, listing: Listing, signal: AbortSignal, log: DaemonLog, at = new Date()): FileSystem {
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, atime: at, mtime: at, ctime: at };
  const fail = (code: ErrnoName): never => {
    throw new FsError(code);
  };
  const entry = (path: string): number | string[] => listing.get(path) ?? fail('ENOENT');
  const sizeOf = (path: string): number => {
    const n = entry(path);
    return typeof n === 'number' ? n : fail('EISDIR');
  };
  return {
    getattr(_caller, path) {
      const n = entry(path);
      return typeof n === 'number' ? { ...owner, mode: 0o100444, size: n } : { ...owner, mode: 0o40555, size: n.length };
    },
    readdir(_caller, path) {
      const n = entry(path);
      return Array.isArray(n) ? n : fail('ENOTDIR');
    },
    open(_caller, path, flags) {
      sizeOf(path); // ENOENT, EISDIR
      if (flags & (fs.O_WRONLY | fs.O_RDWR)) fail('EROFS');
    },
    async read(_caller, path, _fh, len, offset) {
      const pos = Number(offset);
      const end = Math.min(sizeOf(path), pos + len);
      if (pos >= end) return new Uint8Array(0);
      const range = { headers: { range: `bytes=${pos}-${end - 1}` } };
      try {
        const [status, body] = await request(opts, path, signal, async (res) => [res.status, Buffer.from(await res.arrayBuffer())] as const, range);
        // 206: the range asked for; 200: a server without ranges sent the whole file.
        return (status === 206 ? body : body.subarray(pos)).subarray(0, end - pos);
      } catch (err) {
        log.error(`read ${path} at ${pos}: EIO`, err);
        return fail('EIO');
      }
    },
  };
}

export const httpfs = defineDaemon<HttpOptions, HttpInput>({
  kind: defineKind({ name: 'httpfs', command: 'httpfs' }),
  module: import.meta.url,
  options: parseOptions,
  async mount(ctx) {
    const listing = await fetchListing(ctx.options, ctx.signal);
    ctx.log.info(`serving ${listing.size - 1} entries of ${ctx.options.url}`);
    return { fs: httpFs(ctx.options, listing, ctx.signal, ctx.log) };
  },
  /** Healthy while the server answers for its index (the harness bounds and schedules it). */
  probe: (ctx) => request(ctx.options, 'index.json', ctx.signal, async () => undefined, { method: 'HEAD' }),
});
