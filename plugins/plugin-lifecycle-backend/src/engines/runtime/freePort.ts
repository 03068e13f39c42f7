import { createServer, Socket } from 'node:net';

/**
 * Asks the OS for a free TCP port on the host. Another process could take it
 * before the instance binds it; the start then fails and says so.
 */
export function findFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** Resolves true once something accepts TCP connections on host:port. */
export function canConnect(
  host: string,
  port: number,
  timeoutMs = 1000,
): Promise<boolean> {
  return new Promise(resolve => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/**
 * Waits until something accepts connections on `host:port`, or `exited`
 * settles first (what it resolved to), or the deadline passes or `signal`
 * aborts ('timeout').
 */
export async function waitUntilListening<E>(options: {
  host: string;
  port: number;
  exited: Promise<E>;
  timeoutMs: number;
  signal?: AbortSignal;
}): Promise<
  { kind: 'up' } | { kind: 'exited'; exit: E } | { kind: 'timeout' }
> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const state = await Promise.race([
      options.exited.then(exit => ({ kind: 'exited' as const, exit })),
      canConnect(options.host, options.port, 500).then(ok => ({
        kind: ok ? ('up' as const) : ('down' as const),
      })),
    ]);
    if (state.kind === 'exited') return state;
    if (state.kind === 'up') return { kind: 'up' };
    if (Date.now() > deadline || options.signal?.aborted) {
      return { kind: 'timeout' };
    }
    await new Promise(r => setTimeout(r, 100));
  }
}
