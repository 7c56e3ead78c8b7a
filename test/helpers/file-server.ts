/**
 * A small HTTP file server for examples/httpfs, in the test process: 127.0.0.1, port 0.
 * GET/HEAD /index.json lists the files (`{ "<path>": <size> }`), GET /<path> serves one, with
 * single byte ranges (`Range: bytes=a-b` → 206). It can hang (accept requests and never answer),
 * and close() ends the listener and every connection, so later requests are refused.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FileServer {
  /** Base URL, ending with `/`. */
  readonly url: string;
  /** Every request seen: `GET /a.txt bytes=0-5`. */
  readonly requests: string[];
  /** While on, requests are accepted and never answered (a hung backend). */
  hang(on: boolean): void;
  /** Stop listening and drop every connection (hung requests included); bounded. */
  close(): Promise<void>;
}

function serve(files: ReadonlyMap<string, Buffer>, req: IncomingMessage, res: ServerResponse): void {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).slice(1);
  const body = path === 'index.json' ? Buffer.from(JSON.stringify(Object.fromEntries([...files].map(([p, b]) => [p, b.length])))) : files.get(path);
  if (body === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(body === undefined ? 404 : 405).end();
    return;
  }
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (range) {
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), body.length - 1);
    if (start > end) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1 });
    res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
    return;
  }
  res.writeHead(200, { 'content-length': body.length, 'content-type': path.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export async function startFileServer(contents: Readonly<Record<string, string | Buffer>>): Promise<FileServer> {
  const files = new Map(Object.entries(contents).map(([p, c]) => [p, Buffer.from(c)]));
  const requests: string[] = [];
  let hanging = false;
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    if (!hanging) serve(files, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    hang: (on) => void (hanging = on),
    close() {
      closed ??= new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000); // a connection that will not go: the listener is closed anyway
        server.close(() => (clearTimeout(timer), resolve()));
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
