import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Pool } from 'undici';
import { applyDatabaseMigrations } from '../../database/migrations';
import { ALL_TENANTS } from '../../domain/tenancy';
import {
  TestTracing,
  installTestTracing,
  parentOf,
} from '../../__testUtils__/tracing';
import { ATTRS, SPANS } from '../tracing/tracing';
import { ProxyMetrics } from './ProxyMetrics';
import { ServiceDiscovery } from './ServiceDiscovery';
import { Upstream, call as callVia } from './__testUtils__/Upstream';
import { DataPlane, ServiceProxy } from './ServiceProxy';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
const scope = ALL_TENANTS;

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;

function parseTraceparent(value: unknown) {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(
    String(value),
  );
  if (!match) throw new Error(`not a traceparent: ${String(value)}`);
  return { traceId: match[1], parentId: match[2], flags: match[3] };
}

// The Node data plane with a real OpenTelemetry SDK (in memory), real
// upstream servers that record what they got, discovery on SQLite.
describe('ServiceProxy tracing', () => {
  let discovery: ServiceDiscovery;
  let proxy: ServiceProxy;
  let plane: DataPlane;
  let client: Pool;
  let tracing: TestTracing | undefined;
  const upstreams: Upstream[] = [];

  async function upstream(
    name: string,
    route?: ConstructorParameters<typeof Upstream>[1],
  ) {
    const u = await new Upstream(name, route).start();
    upstreams.push(u);
    return u;
  }

  const register = (
    serviceName: string,
    u: Upstream,
    fields: Record<string, unknown> = {},
  ) =>
    discovery.registerService(
      {
        serviceId: `${serviceName}-${u.name}`,
        serviceName,
        host: '127.0.0.1',
        port: u.port,
        version: '1.2.0',
        ...fields,
      },
      { scope },
    );

  const call = (path: string, headers: Record<string, string> = {}) =>
    callVia(client, 'GET', path, { headers });

  /** The request span and its attempts, once the request span ended. */
  async function spansOfRequest(service: string) {
    const all = await tracing!.waitFor(spans =>
      spans.some(
        s => s.name === SPANS.proxy && s.attributes[ATTRS.service] === service,
      ),
    );
    const request = all.find(
      s => s.name === SPANS.proxy && s.attributes[ATTRS.service] === service,
    )!;
    const attempts = all.filter(
      s =>
        s.name === SPANS.proxyAttempt &&
        parentOf(s) === request.spanContext().spanId,
    );
    return { request, attempts };
  }

  beforeAll(async () => {
    const knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    discovery = ServiceDiscovery.create({
      db: knex,
      logger: mockServices.logger.mock(),
      pollIntervalMs: 60_000,
      expireIntervalMs: 0,
      defaultStrategy: 'round-robin',
    });
    await discovery.start();
    proxy = ServiceProxy.create({
      discovery,
      metrics: ProxyMetrics.create(),
      logger: mockServices.logger.mock(),
      maxRetries: 2,
    });
    plane = await proxy.startDataPlane();
    client = new Pool(`http://127.0.0.1:${plane.port}`);
  });

  afterEach(() => tracing?.reset());

  afterAll(async () => {
    await tracing?.uninstall();
    await client.close();
    await proxy.close();
    await discovery.stop();
    for (const u of upstreams) {
      if (u.server.listening) await u.kill();
    }
  });

  it('without an SDK creates nothing and passes the caller’s trace context unchanged', async () => {
    const u = await upstream('plain');
    await register('plain', u);
    const res = await call('/proxy/plain/x', {
      traceparent: CLIENT_TRACEPARENT,
      tracestate: 'vendor=1',
    });
    expect(res.status).toBe(200);
    expect(u.seen[0].headers.traceparent).toBe(CLIENT_TRACEPARENT);
    expect(u.seen[0].headers.tracestate).toBe('vendor=1');
    // Registered from here on, for the cases below.
    tracing = installTestTracing();
  });

  it('continues the caller’s trace: the instance’s parent is our attempt span, under our request span, under the caller', async () => {
    const u = await upstream('traced');
    await register('traced', u);
    const res = await call('/proxy/traced/items?q=1', {
      traceparent: CLIENT_TRACEPARENT,
      tracestate: 'vendor=1',
    });
    expect(res.status).toBe(200);

    const { request, attempts } = await spansOfRequest('traced');
    expect(attempts).toHaveLength(1);
    const [attempt] = attempts;

    // What the upstream got: the caller's trace, our attempt as the parent.
    expect(u.seen).toHaveLength(1);
    const received = parseTraceparent(u.seen[0].headers.traceparent);
    expect(received).toEqual({
      traceId: CLIENT_TRACE,
      parentId: attempt.spanContext().spanId,
      flags: '01',
    });
    expect(u.seen[0].headers.tracestate).toBe('vendor=1');

    expect(request.spanContext().traceId).toBe(CLIENT_TRACE);
    expect(parentOf(request)).toBe(CLIENT_SPAN);
    expect(request.kind).toBe(SpanKind.SERVER);
    expect(request.attributes).toMatchObject({
      [ATTRS.service]: 'traced',
      [ATTRS.method]: 'GET',
      [ATTRS.instance]: 'traced-traced',
      [ATTRS.version]: '1.2.0',
      [ATTRS.statusCode]: 200,
      [ATTRS.retries]: 0,
    });
    expect(request.status.code).toBe(SpanStatusCode.UNSET);

    expect(attempt.kind).toBe(SpanKind.CLIENT);
    expect(attempt.attributes).toMatchObject({
      [ATTRS.service]: 'traced',
      [ATTRS.instance]: 'traced-traced',
      [ATTRS.version]: '1.2.0',
      [ATTRS.serverAddress]: '127.0.0.1',
      [ATTRS.serverPort]: u.port,
      [ATTRS.statusCode]: 200,
      [ATTRS.proxyAttempt]: 1,
    });
    expect(attempt.status.code).toBe(SpanStatusCode.UNSET);
    expect(attempt.instrumentationScope.name).toBe(
      'backstage-plugin-plugin-lifecycle',
    );
  });

  it('starts a trace when the caller has none, and the instance continues it', async () => {
    const u = await upstream('fresh');
    await register('fresh', u);
    expect((await call('/proxy/fresh/')).status).toBe(200);
    const { request, attempts } = await spansOfRequest('fresh');
    expect(parentOf(request)).toBeUndefined();
    const received = parseTraceparent(u.seen[0].headers.traceparent);
    expect(received.traceId).toBe(request.spanContext().traceId);
    expect(received.parentId).toBe(attempts[0].spanContext().spanId);
  });

  it('marks the spans as errors when the instance fails (500)', async () => {
    const u = await upstream('broken', (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('boom');
      return true;
    });
    await register('broken', u);
    const res = await call('/proxy/broken/x', {
      traceparent: CLIENT_TRACEPARENT,
    });
    expect(res.status).toBe(500);
    const { request, attempts } = await spansOfRequest('broken');
    expect(attempts).toHaveLength(1);
    expect(attempts[0].status.code).toBe(SpanStatusCode.ERROR);
    expect(attempts[0].attributes[ATTRS.statusCode]).toBe(500);
    expect(request.status.code).toBe(SpanStatusCode.ERROR);
    expect(request.attributes[ATTRS.statusCode]).toBe(500);
    // The instance still got the trace.
    expect(parseTraceparent(u.seen[0].headers.traceparent).traceId).toBe(
      CLIENT_TRACE,
    );
  });

  it('records a retry after a dead instance: the failed attempt is an error with the exception, the request is not', async () => {
    const dead = await upstream('dead');
    const live = await upstream('live');
    await register('retried', dead);
    await register('retried', live);
    await dead.kill();
    // Round robin: within two requests one goes to the dead instance first.
    let found: { request: ReadableSpan; attempts: ReadableSpan[] } | undefined;
    for (let i = 0; i < 4 && !found; i++) {
      tracing!.reset();
      expect((await call(`/proxy/retried/${i}`)).status).toBe(200);
      const spans = await spansOfRequest('retried');
      if (spans.request.attributes[ATTRS.retries] === 1) found = spans;
    }
    expect(found).toBeDefined();
    const { request, attempts } = found!;
    expect(request.status.code).toBe(SpanStatusCode.UNSET);
    expect(request.attributes[ATTRS.instance]).toBe('retried-live');
    const byNumber = [...attempts].sort(
      (a, b) =>
        Number(a.attributes[ATTRS.proxyAttempt]) -
        Number(b.attributes[ATTRS.proxyAttempt]),
    );
    expect(byNumber.map(s => s.attributes[ATTRS.instance])).toEqual([
      'retried-dead',
      'retried-live',
    ]);
    expect(byNumber[0].status.code).toBe(SpanStatusCode.ERROR);
    expect(byNumber[0].events.map(e => e.name)).toContain('exception');
    expect(byNumber[0].attributes[ATTRS.statusCode]).toBeUndefined();
    expect(byNumber[1].status.code).toBe(SpanStatusCode.UNSET);
    // The live instance's parent is the second attempt.
    const received = parseTraceparent(
      live.seen[live.seen.length - 1].headers.traceparent,
    );
    expect(received.parentId).toBe(byNumber[1].spanContext().spanId);
  });

  it('marks the request as an error when no instance answers', async () => {
    const gone = await upstream('gone');
    await register('unreachable', gone);
    await gone.kill();
    const res = await call('/proxy/unreachable/x');
    expect(res.status).toBeGreaterThanOrEqual(502);
    const { request, attempts } = await spansOfRequest('unreachable');
    expect(request.status.code).toBe(SpanStatusCode.ERROR);
    expect(request.attributes[ATTRS.statusCode]).toBe(res.status);
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts.every(a => a.status.code === SpanStatusCode.ERROR)).toBe(
      true,
    );
  });
});
