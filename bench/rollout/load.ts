/*
 * A constant-rate load generator for bench/rollout: `rate` GET requests a
 * second to one URL on 127.0.0.1, each recorded with when it was sent and
 * answered (wall-clock ms, comparable with the deployment's timestamps),
 * its status and the `version` of the sample service's body. No wrk: it
 * may be missing, and the bench must read each answer's version.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** One request and what came of it. */
export interface Sample {
  /** Wall-clock ms (sub-ms precision) when the request was sent. */
  sentAt: number;
  /** Wall-clock ms when the answer ended or the request failed. */
  doneAt: number;
  status?: number;
  version?: string;
  error?: string;
  /** The start of the body of an answer that was not 200. */
  body?: string;
}

export interface LoadOptions {
  url: string;
  rate: number;
  headers?: Record<string, string>;
  /**
   * A new connection for every request: an nginx reload closes its old
   * workers' idle keep-alive connections, which a client would see as a
   * failure that no real browser retrying on a fresh connection sees.
   */
  newConnection: boolean;
  /** Requests in flight at most; more are counted as skipped, not sent. */
  maxInFlight?: number;
}

/** Wall-clock ms with performance.now()'s precision and monotony. */
const origin = Date.now() - performance.now();
export const wallNow = () => origin + performance.now();

/** Starts sending at once; `stop()` waits for those in flight. */
export function startLoad(options: LoadOptions) {
  const url = new URL(options.url);
  const agent = options.newConnection
    ? false
    : new http.Agent({ keepAlive: true, maxSockets: 256 });
  const maxInFlight = options.maxInFlight ?? 256;
  const samples: Sample[] = [];
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let skipped = 0;
  const start = performance.now();

  const send = () => {
    const sentAt = wallNow();
    const done = new Promise<void>(resolve => {
      const sample: Sample = { sentAt, doneAt: sentAt };
      const finish = () => {
        sample.doneAt = wallNow();
        samples.push(sample);
        resolve();
      };
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: 'GET',
          agent,
          headers: {
            ...options.headers,
            ...(options.newConnection ? { Connection: 'close' } : {}),
          },
          timeout: 10_000,
        },
        res => {
          sample.status = res.statusCode;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('end', () => {
            if (res.statusCode !== 200) {
              sample.body = Buffer.concat(chunks)
                .toString('utf8')
                .slice(0, 300);
            }
            try {
              sample.version = JSON.parse(
                Buffer.concat(chunks).toString('utf8'),
              ).version;
            } catch {
              // not the sample's JSON (a proxy's error page)
            }
            finish();
          });
          res.once('error', e => {
            sample.error = e.message;
            finish();
          });
        },
      );
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.once('error', e => {
        if (sample.status === undefined) {
          sample.error = e.message;
          finish();
        }
      });
      req.end();
    });
    inFlight.add(done);
    done.finally(() => inFlight.delete(done));
  };

  // Every few ms, send what is due by now: an exact average rate whatever
  // the timer's granularity.
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) * options.rate) / 1000);
    while (sent + skipped < due) {
      if (inFlight.size >= maxInFlight) {
        skipped++;
      } else {
        sent++;
        send();
      }
    }
  }, 4);

  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      if (agent) agent.destroy();
      samples.sort((a, b) => a.sentAt - b.sentAt);
      return { samples, skipped };
    },
  };
}

/** A status the data plane gives when it could not serve (or no answer). */
export function isFailed(s: Sample) {
  return (
    s.status === undefined ||
    s.status === 502 ||
    s.status === 503 ||
    s.status === 504
  );
}

/** A 5xx the service itself answered (the bad 2.1.0's 500s). */
export function isService5xx(s: Sample) {
  return s.status !== undefined && s.status >= 500 && !isFailed(s);
}
