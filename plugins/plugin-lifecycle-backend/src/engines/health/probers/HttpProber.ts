import { Agent } from 'undici';
import { ProbeDeadline, errorMessage, hostPort } from './deadline';
import { Probe, ProbeOutcome, Prober, ProbeTarget } from './types';

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_CONNECTIONS_PER_ORIGIN = 2;
const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Settings of an HTTP probe that the probe schema does not have yet; read
 * when present so that adding them to the schema is enough.
 */
interface HttpProbeExtras {
  /** The body must contain this text. */
  bodyContains?: unknown;
  /** The body must match this regular expression (its source). */
  bodyMatches?: unknown;
}

/** @public */
export interface HttpProberOptions {
  /**
   * Connections kept open per instance between probes; 0 closes the
   * connection after each probe, as Kubernetes does. Defaults to 2.
   */
  connectionsPerOrigin?: number;
  /** How much of a body is read at most (to match it). Defaults to 64 KiB. */
  maxBodyBytes?: number;
}

/**
 * Probes with `GET http://host:port/path`: a status in
 * `expectedStatusCodes` (200-399 by default, as in Kubernetes) passes, and
 * so must the body when a body match is given.
 *
 * @public
 */
export class HttpProber implements Prober {
  readonly method = 'http';
  readonly #agent: Agent;
  readonly #keepAlive: boolean;
  readonly #maxBodyBytes: number;

  private constructor(options: HttpProberOptions) {
    const connections =
      options.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN;
    this.#keepAlive = connections > 0;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    // A small pool per instance; the agent drops an instance's pool once its
    // connections have closed, so instances that are gone cost nothing.
    this.#agent = new Agent({
      connections: Math.max(connections, 1),
      pipelining: 1,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 10_000,
    });
  }

  static create(options: HttpProberOptions = {}): HttpProber {
    return new HttpProber(options);
  }

  async probe(
    target: ProbeTarget,
    probe: Probe,
    signal: AbortSignal,
  ): Promise<ProbeOutcome> {
    const deadline = ProbeDeadline.start(probe, signal);
    try {
      return await this.#probe(target, probe, deadline);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (!deadline.aborted && code && TIMEOUT_CODES.has(code)) {
        return deadline.fail(`timed out after ${deadline.timeoutMs}ms`);
      }
      return deadline.failWith(error);
    } finally {
      deadline.dispose();
    }
  }

  async #probe(
    target: ProbeTarget,
    probe: Probe,
    deadline: ProbeDeadline,
  ): Promise<ProbeOutcome> {
    const http = probe.http;
    if (!http) {
      return deadline.fail('an http probe needs its "http" settings');
    }
    const extras = http as HttpProbeExtras;
    let bodyMatches: RegExp | undefined;
    if (extras.bodyMatches !== undefined) {
      try {
        bodyMatches = new RegExp(String(extras.bodyMatches));
      } catch (error) {
        return deadline.fail(
          `invalid bodyMatches pattern: ${errorMessage(error)}`,
        );
      }
    }
    const bodyContains =
      extras.bodyContains === undefined
        ? undefined
        : String(extras.bodyContains);

    const origin = `http://${hostPort(target.host, http.port ?? target.port)}`;
    const response = await this.#agent.request({
      origin,
      path: http.path,
      method: 'GET',
      headers: {
        'user-agent': 'backstage-plugin-lifecycle-probe',
        accept: '*/*',
        ...http.headers,
      },
      signal: deadline.signal,
      headersTimeout: deadline.timeoutMs,
      bodyTimeout: deadline.timeoutMs,
      reset: !this.#keepAlive,
    });

    const status = response.statusCode;
    const expected = http.expectedStatusCodes;
    const statusOk = expected
      ? expected.includes(status)
      : status >= 200 && status < 400;
    const answered = `GET ${http.path} answered ${status}`;

    if (!statusOk || (bodyContains === undefined && !bodyMatches)) {
      // Reading the rest lets the connection be reused; a large body is cut.
      await response.body
        .dump({ limit: this.#maxBodyBytes, signal: deadline.signal })
        .catch(() => {});
      return {
        ok: statusOk,
        latencyMs: deadline.elapsedMs(),
        statusCode: status,
        message: statusOk
          ? answered
          : `${answered}, expected ${
              expected ? expected.join(', ') : '200-399'
            }`,
      };
    }

    const { body, truncated } = await this.#readBody(response.body);
    let mismatch: string | undefined;
    if (bodyContains !== undefined && !body.includes(bodyContains)) {
      mismatch = `does not contain ${JSON.stringify(bodyContains)}`;
    } else if (bodyMatches && !bodyMatches.test(body)) {
      mismatch = `does not match /${bodyMatches.source}/`;
    }
    return {
      ok: !mismatch,
      latencyMs: deadline.elapsedMs(),
      statusCode: status,
      message: mismatch
        ? `${answered} but its body ${mismatch}${
            truncated ? ` (read the first ${this.#maxBodyBytes} bytes)` : ''
          }`
        : answered,
    };
  }

  /** The body as text, up to the cap; the rest is not read. */
  async #readBody(
    stream: AsyncIterable<Buffer>,
  ): Promise<{ body: string; truncated: boolean }> {
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    for await (const chunk of stream) {
      const part = chunk.subarray(0, this.#maxBodyBytes - size);
      chunks.push(part);
      size += part.length;
      if (size >= this.#maxBodyBytes) {
        truncated = true;
        break; // leaving the loop destroys the body and its connection
      }
    }
    return { body: Buffer.concat(chunks).toString('utf8'), truncated };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
