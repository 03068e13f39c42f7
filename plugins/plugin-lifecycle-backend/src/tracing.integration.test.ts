import type { Server } from 'node:http';
import { mockCredentials } from '@backstage/backend-test-utils';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ReadableSpan } from '@opentelemetry/sdk-trace';
import { PluginInstance } from '@internal/plugin-lifecycle-common';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForDeployment,
  waitForOperation,
} from './__testUtils__/testBackend';
import {
  TestTracing,
  installTestTracing,
  parentOf,
} from './__testUtils__/tracing';
import { ATTRS, SPANS } from './engines/tracing/tracing';

jest.setTimeout(120_000);

const auth = mockCredentials.user.header();
const api = (path: string) => `/api/plugin-lifecycle${path}`;

/** A caller's W3C trace context: a fresh trace id per call. */
function callerTrace(n: number) {
  const traceId = n.toString(16).padStart(32, 'a');
  const spanId = n.toString(16).padStart(16, 'b');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

function parseTraceparent(value: unknown) {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(value));
  if (!match) throw new Error(`not a traceparent: ${String(value)}`);
  return { traceId: match[1], parentId: match[2] };
}

/**
 * The real backend plugin (SQLite, process runtime, the sample service)
 * with an OpenTelemetry SDK exporting to memory, registered before the
 * backend starts as a backend's instrumentation file registers it.
 */
describe('tracing of operations and deployments', () => {
  let tracing: TestTracing;
  let server: Server;
  let stop: () => Promise<void>;

  const post = (path: string, body: object, traceparent?: string) => {
    const req = request(server).post(api(path)).set('Authorization', auth);
    if (traceparent) req.set('traceparent', traceparent);
    return req.send(body);
  };

  async function act(
    pluginId: string,
    action: string,
    body: object,
    traceparent?: string,
  ) {
    const res = await post(`/plugins/${pluginId}/${action}`, body, traceparent);
    expect(res.status).toBe(202);
    const operation = await waitForOperation(
      server,
      auth,
      res.body.operationId,
      60_000,
    );
    return { operation, deploymentId: res.body.deploymentId as string };
  }

  /** The spans of an operation's attempts, once its last one ended. */
  async function operationSpans(operationId: string, attempts = 1) {
    const spans = (all: ReadableSpan[]) =>
      all.filter(
        s =>
          s.name === SPANS.operation &&
          s.attributes[ATTRS.operationId] === operationId,
      );
    return spans(await tracing.waitFor(all => spans(all).length >= attempts));
  }

  const byDeployment = (name: string, deploymentId: string) =>
    tracing
      .spans(name)
      .filter(s => s.attributes[ATTRS.deploymentId] === deploymentId);

  beforeAll(async () => {
    tracing = installTestTracing();
    ({ server, stop } = await startLifecycleBackend({
      pluginId: 'trace-ops',
      extraPluginIds: ['trace-fail', 'trace-canary', 'trace-broken'],
      config: {
        orchestrator: { pollInterval: 20 },
        deployments: { tickInterval: 50 },
        runtime: {
          process: { readyTimeout: 3000, stopGracePeriod: 2000 },
          restartPolicy: { maxRestarts: 0 },
        },
      },
    }));
  });

  afterAll(async () => {
    await stop?.();
    await tracing?.uninstall();
  });

  it('traces each operation under the request that queued it, and the instance it started continues the trace', async () => {
    const installCaller = callerTrace(1);
    const { operation: install } = await act(
      'trace-ops',
      'install',
      { version: '1.0.0' },
      installCaller.traceparent,
    );
    expect(install.status).toBe('succeeded');
    const [installSpan] = await operationSpans(install.id);
    expect(installSpan.spanContext().traceId).toBe(installCaller.traceId);
    expect(parentOf(installSpan)).toBe(installCaller.spanId);
    expect(installSpan.kind).toBe(SpanKind.INTERNAL);
    expect(installSpan.instrumentationScope.name).toBe(
      'backstage-plugin-plugin-lifecycle',
    );
    expect(installSpan.attributes).toMatchObject({
      [ATTRS.pluginId]: 'trace-ops',
      [ATTRS.operationId]: install.id,
      [ATTRS.operationType]: 'install',
      [ATTRS.attempt]: 1,
      [ATTRS.maxAttempts]: expect.any(Number),
      [ATTRS.outcome]: 'succeeded',
      [ATTRS.tenant]: 'default',
    });
    expect(installSpan.status.code).toBe(SpanStatusCode.UNSET);

    const startCaller = callerTrace(2);
    const { operation: start } = await act(
      'trace-ops',
      'start',
      {},
      startCaller.traceparent,
    );
    expect(start.status).toBe('succeeded');
    const [startSpan] = await operationSpans(start.id);
    expect(startSpan.spanContext().traceId).toBe(startCaller.traceId);
    expect(parentOf(startSpan)).toBe(startCaller.spanId);
    expect(startSpan.attributes).toMatchObject({
      [ATTRS.operationType]: 'start',
      [ATTRS.outcome]: 'succeeded',
    });

    // The instance got the start operation's span as its TRACEPARENT.
    const plugin = (
      await request(server)
        .get(api('/plugins/trace-ops'))
        .set('Authorization', auth)
    ).body;
    const [instance] = plugin.instances.filter(
      (i: PluginInstance) => i.status === 'running',
    );
    const root = (await (
      await fetch(`http://${instance.host}:${instance.port}/`)
    ).json()) as { startedIn?: string };
    expect(parseTraceparent(root.startedIn)).toEqual({
      traceId: startCaller.traceId,
      parentId: startSpan.spanContext().spanId,
    });

    // A request without trace context: its operation starts a trace.
    const { operation: stopped } = await act('trace-ops', 'stop', {});
    const [stopSpan] = await operationSpans(stopped.id);
    expect(parentOf(stopSpan)).toBeUndefined();
    expect(stopSpan.spanContext().traceId).not.toBe(startCaller.traceId);
  });

  it('marks the span of a failed operation as an error', async () => {
    const caller = callerTrace(3);
    const res = await post(
      '/plugins/trace-fail/install',
      { version: '9.9.9' },
      caller.traceparent,
    );
    expect(res.status).toBe(202);
    const failed = await waitForOperation(
      server,
      auth,
      res.body.operationId,
      60_000,
    );
    expect(failed.status).toBe('failed');
    const spans = await operationSpans(failed.id, failed.attempts);
    expect(spans).toHaveLength(failed.attempts);
    for (const span of spans) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.events.map(e => e.name)).toContain('exception');
      expect(parentOf(span)).toBe(caller.spanId);
    }
    const last = spans.find(
      s => s.attributes[ATTRS.attempt] === failed.attempts,
    )!;
    expect(last.attributes[ATTRS.outcome]).toBe('failed');
    expect(last.status.message).toBe(failed.error);
  });

  it('traces a canary: its steps are spans under the deployment, under the update operation, under the caller', async () => {
    await act('trace-canary', 'install', {
      version: '1.0.0',
      replicas: 2,
      start: true,
    });
    const caller = callerTrace(4);
    const { operation: update, deploymentId } = await act(
      'trace-canary',
      'update',
      {
        version: '1.1.0',
        deploymentStrategy: 'canary',
        deploymentConfig: {
          canary: {
            steps: [
              { setWeight: 50 },
              { pause: { duration: 200 } },
              { setWeight: 100 },
            ],
          },
        },
      },
      caller.traceparent,
    );
    expect(update.status).toBe('succeeded');
    const deployment = await waitForDeployment(server, auth, deploymentId);
    expect(deployment.phase).toBe('succeeded');

    const [updateSpan] = await operationSpans(update.id);
    expect(parentOf(updateSpan)).toBe(caller.spanId);
    const [deploymentSpan] = byDeployment(SPANS.deployment, deploymentId);
    expect(deploymentSpan.attributes).toMatchObject({
      [ATTRS.pluginId]: 'trace-canary',
      [ATTRS.deploymentId]: deploymentId,
      [ATTRS.strategy]: 'canary',
      [ATTRS.fromVersion]: '1.0.0',
      [ATTRS.toVersion]: '1.1.0',
    });
    expect(deploymentSpan.spanContext().traceId).toBe(caller.traceId);
    expect(parentOf(deploymentSpan)).toBe(updateSpan.spanContext().spanId);

    // The finish step's span ends right after the deployment's last write.
    await tracing.waitFor(() =>
      byDeployment(SPANS.deploymentStep, deploymentId).some(
        s => s.attributes[ATTRS.stepKind] === 'finish',
      ),
    );
    const steps = byDeployment(SPANS.deploymentStep, deploymentId);
    for (const span of steps) {
      expect(span.spanContext().traceId).toBe(caller.traceId);
      expect(parentOf(span)).toBe(deploymentSpan.spanContext().spanId);
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
    }
    // Each step ended in one span that says `done` (a pause waits first).
    const done = steps.filter(s => s.attributes[ATTRS.outcome] === 'done');
    expect(
      done.map(s => [
        s.attributes[ATTRS.stepIndex],
        s.attributes[ATTRS.stepKind],
      ]),
    ).toEqual(deployment.steps.map(s => [s.index, s.kind]));
    expect(deployment.steps.map(s => s.kind)).toEqual(
      expect.arrayContaining(['scale', 'setWeight', 'finish']),
    );
  });

  it('marks the failing step of a deployment as an error, and traces its rollback', async () => {
    await act('trace-broken', 'install', {
      version: '1.0.0',
      replicas: 1,
      start: true,
    });
    const caller = callerTrace(5);
    const { deploymentId } = await act(
      'trace-broken',
      'update',
      {
        version: '2.0.0',
        deploymentStrategy: 'canary',
        deploymentConfig: {
          canary: { trafficIncrement: 50, incrementInterval: 1000 },
        },
      },
      caller.traceparent,
    );
    const deployment = await waitForDeployment(server, auth, deploymentId);
    expect(deployment.phase).toBe('rolled-back');
    const [rollback] = (
      await tracing.waitFor(
        () => byDeployment(SPANS.deploymentRollback, deploymentId).length > 0,
      )
    ).filter(
      s =>
        s.name === SPANS.deploymentRollback &&
        s.attributes[ATTRS.deploymentId] === deploymentId,
    );
    const [deploymentSpan] = byDeployment(SPANS.deployment, deploymentId);
    expect(parentOf(rollback)).toBe(deploymentSpan.spanContext().spanId);
    expect(rollback.attributes[ATTRS.outcome]).toBe('rolled-back');
    expect(rollback.spanContext().traceId).toBe(caller.traceId);

    const failedStep = byDeployment(SPANS.deploymentStep, deploymentId).find(
      s => s.attributes[ATTRS.outcome] === 'fail',
    )!;
    expect(failedStep.attributes[ATTRS.stepKind]).toBe('scale');
    expect(failedStep.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: expect.stringMatching(/did not become ready/),
    });
    expect(parentOf(failedStep)).toBe(deploymentSpan.spanContext().spanId);
  });
});
