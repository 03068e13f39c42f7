import { Socket } from 'node:net';
import { ProbeDeadline, errorMessage, hostPort } from './deadline';
import { Probe, ProbeOutcome, Prober, ProbeTarget } from './types';

/**
 * Probes by opening a TCP connection: accepted passes, refused or timed out
 * fails. The connection is closed at once, as in Kubernetes.
 *
 * @public
 */
export class TcpProber implements Prober {
  readonly method = 'tcp';

  static create(): TcpProber {
    return new TcpProber();
  }

  async probe(
    target: ProbeTarget,
    probe: Probe,
    signal: AbortSignal,
  ): Promise<ProbeOutcome> {
    const deadline = ProbeDeadline.start(probe, signal);
    const port = probe.tcp?.port ?? target.port;
    const address = hostPort(target.host, port);
    try {
      if (deadline.aborted) return deadline.fail(deadline.reason());
      const error = await connect(target.host, port, deadline.signal);
      if (deadline.aborted) return deadline.fail(deadline.reason());
      if (error) {
        return deadline.fail(`no TCP connection to ${address}: ${error}`);
      }
      return {
        ok: true,
        latencyMs: deadline.elapsedMs(),
        message: `connected to ${address}`,
      };
    } finally {
      deadline.dispose();
    }
  }
}

/** Resolves undefined once connected, or the error; never rejects. */
function connect(
  host: string,
  port: number,
  signal: AbortSignal,
): Promise<string | undefined> {
  // The signal is the probe's own, so its listener goes with it.
  return new Promise(resolve => {
    const socket = new Socket();
    const done = (error?: string) => {
      socket.destroy();
      resolve(error);
    };
    signal.addEventListener('abort', () => done('aborted'), { once: true });
    socket.once('error', error => done(errorMessage(error)));
    try {
      socket.connect(port, host, () => done());
    } catch (error) {
      done(errorMessage(error)); // an invalid port, for one
    }
  });
}
