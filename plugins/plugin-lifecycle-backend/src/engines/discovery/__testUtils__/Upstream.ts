import { createHash } from 'node:crypto';
import {
  IncomingHttpHeaders,
  IncomingMessage,
  Server,
  ServerResponse,
  createServer,
} from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import { Dispatcher, Pool } from 'undici';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A real upstream HTTP server that says who it is and what it got. */
export class Upstream {
  readonly seen: Seen[] = [];
  readonly server: Server;
  port = 0;
  #sockets = new Set<Socket>();

  constructor(
    readonly name: string,
    route?: (
      req: IncomingMessage,
      res: ServerResponse,
      upstream: Upstream,
    ) => boolean | void,
  ) {
    this.server = createServer((req, res) => {
      this.seen.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
      });
      if (route?.(req, res, this)) return;
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', chunk => {
        size += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => {
        const body = JSON.stringify({
          upstream: name,
          method: req.method,
          url: req.url,
          size,
          sha256: hash.digest('hex'),
          headers: req.headers,
        });
        res.writeHead(200, {
          'content-type': 'application/json',
          connection: 'keep-alive, x-upstream-hop',
          'x-upstream-hop': 'secret',
          'x-upstream': name,
        });
        res.end(body);
      });
    });
    this.server.on('connection', socket => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  async start() {
    await new Promise<void>(r => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and destroys every open connection. */
  async kill() {
    const closed = new Promise(r => this.server.close(r));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}

/**
 * A route for {@link Upstream} that holds `/hold` open until `release()`:
 * `holding` resolves once such a request arrived.
 */
export function holdRoute() {
  let release!: () => void;
  const released = new Promise<void>(r => {
    release = r;
  });
  let arrived!: () => void;
  const holding = new Promise<void>(r => {
    arrived = r;
  });
  const route = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== '/hold') return false;
    arrived();
    released.then(() => res.end('released'));
    return true;
  };
  return { route, holding, release };
}

/** One request through a proxy; the body as text and, when it is, JSON. */
export async function call(
  via: Pool,
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string> } = {},
) {
  const res = await via.request({
    method: method as Dispatcher.HttpMethod,
    path,
    body: options.body,
    headers: options.headers,
  });
  const text = await res.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}
