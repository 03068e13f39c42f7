import {
  ChannelOptions,
  Client,
  Metadata,
  ServiceError,
  credentials,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { ProbeDeadline, hostPort } from './deadline';
import { Probe, ProbeOutcome, Prober, ProbeTarget } from './types';

const CHECK = healthService.Check;
const serializeRequest = CHECK.requestSerialize as (request: {
  service: string;
}) => Buffer;
const deserializeResponse = CHECK.responseDeserialize as (bytes: Buffer) => {
  status?: string;
};

/** @public */
export interface GrpcProberOptions {
  /** Clients kept at most; the least recently used goes first. Default 4096. */
  maxClients?: number;
  /** A client unused this long is closed. Defaults to 5 minutes. */
  idleTimeoutMs?: number;
  /** Options of the channels, over the prober's own. */
  channelOptions?: ChannelOptions;
}

interface CachedClient {
  client: Client;
  lastUsedAt: number;
}

/**
 * Probes with the standard `grpc.health.v1.Health/Check`, for the whole
 * server or the probe's `grpc.service`: SERVING passes, anything else fails
 * and says which status it got.
 *
 * Clients (channels) are kept per address so that probing many instances
 * often does not open a channel per probe; {@link GrpcProber.close} closes
 * them.
 *
 * @public
 */
export class GrpcProber implements Prober {
  readonly method = 'grpc';
  readonly #clients = new Map<string, CachedClient>();
  readonly #maxClients: number;
  readonly #idleTimeoutMs: number;
  readonly #channelOptions: ChannelOptions;
  #closed = false;

  private constructor(options: GrpcProberOptions) {
    this.#maxClients = Math.max(options.maxClients ?? 4096, 1);
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 5 * 60_000;
    this.#channelOptions = {
      // A restarted instance is probed again soon, not after a long backoff.
      'grpc.max_reconnect_backoff_ms': 1_000,
      ...options.channelOptions,
    };
  }

  static create(options: GrpcProberOptions = {}): GrpcProber {
    return new GrpcProber(options);
  }

  /** How many clients are open. */
  get clientCount(): number {
    return this.#clients.size;
  }

  async probe(
    target: ProbeTarget,
    probe: Probe,
    signal: AbortSignal,
  ): Promise<ProbeOutcome> {
    const deadline = ProbeDeadline.start(probe, signal);
    try {
      if (deadline.aborted) return deadline.fail(deadline.reason());
      if (this.#closed) return deadline.fail('the gRPC prober is closed');
      const address = hostPort(target.host, probe.grpc?.port ?? target.port);
      const service = probe.grpc?.service ?? '';
      const client = this.#client(address);
      const what = service ? `service "${service}"` : 'the server';

      const result = await new Promise<
        { error: ServiceError } | { status: string }
      >(resolve => {
        const call = client.makeUnaryRequest(
          CHECK.path,
          serializeRequest,
          deserializeResponse,
          { service },
          new Metadata(),
          {
            deadline: Date.now() + (deadline.timeoutMs - deadline.elapsedMs()),
          },
          (error, response) => {
            resolve(
              error
                ? { error }
                : { status: String(response?.status ?? 'UNKNOWN') },
            );
          },
        );
        // The signal is the probe's own, so its listener goes with it.
        deadline.signal.addEventListener('abort', () => call.cancel(), {
          once: true,
        });
      });

      if ('status' in result) {
        return {
          ok: result.status === 'SERVING',
          latencyMs: deadline.elapsedMs(),
          statusCode: GrpcStatus.OK,
          message: `${what} is ${result.status}`,
        };
      }
      const { code, details } = result.error;
      // Whichever of the two clocks ran out first, a timeout is a timeout.
      if (deadline.aborted) return deadline.fail(deadline.reason());
      switch (code) {
        case GrpcStatus.DEADLINE_EXCEEDED:
          return deadline.fail(`timed out after ${deadline.timeoutMs}ms`);
        case GrpcStatus.NOT_FOUND:
          return deadline.fail(`${what} is SERVICE_UNKNOWN: ${details}`, code);
        case GrpcStatus.UNIMPLEMENTED:
          return deadline.fail(
            `${address} does not implement grpc.health.v1.Health: ${details}`,
            code,
          );
        default:
          return deadline.fail(
            `Health/Check on ${address} failed with ${
              GrpcStatus[code] ?? code
            }: ${details}`,
            code,
          );
      }
    } catch (error) {
      return deadline.failWith(error);
    } finally {
      deadline.dispose();
    }
  }

  /** The client of an address, kept in least-recently-used order. */
  #client(address: string): Client {
    const now = Date.now();
    const cached = this.#clients.get(address);
    if (cached) {
      this.#clients.delete(address);
      cached.lastUsedAt = now;
      this.#clients.set(address, cached);
      this.#evict(now);
      return cached.client;
    }
    const client = new Client(
      address,
      credentials.createInsecure(),
      this.#channelOptions,
    );
    this.#clients.set(address, { client, lastUsedAt: now });
    this.#evict(now);
    return client;
  }

  #evict(now: number) {
    for (const [address, entry] of this.#clients) {
      if (
        this.#clients.size <= this.#maxClients &&
        now - entry.lastUsedAt < this.#idleTimeoutMs
      ) {
        break; // the rest were used more recently
      }
      this.#clients.delete(address);
      entry.client.close(); // calls in progress on it still complete
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const { client } of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}
