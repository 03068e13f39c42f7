import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { RuntimeInstance } from '@internal/plugin-lifecycle-node';
import { ReadinessFailedError } from '../../domain/orchestration';
import { canConnect } from '../runtime/freePort';

/**
 * Waits until a new instance passes its startup and readiness probes (HTTP
 * or TCP), as a gate before the plugin counts as running. The health monitor
 * runs the probes continuously afterwards; this is only the start gate.
 *
 * @throws ReadinessFailedError when a probe keeps failing until the deadline
 * or the instance exits first: the version failed, which no retry fixes
 */
export async function waitUntilReady(options: {
  instance: RuntimeInstance;
  probes: ProbeDefinition[];
  timeoutMs: number;
  isAlive: () => Promise<boolean>;
  signal?: AbortSignal;
}): Promise<void> {
  const { instance, timeoutMs, signal } = options;
  const gates = ['startup', 'readiness']
    .map(type =>
      options.probes.find(
        p => p.type === type && (p.method === 'http' || p.method === 'tcp'),
      ),
    )
    .filter((p): p is ProbeDefinition => Boolean(p));
  const deadline = Date.now() + timeoutMs;
  for (const probe of gates) {
    let last = 'not probed yet';
    for (;;) {
      signal?.throwIfAborted();
      if (!(await options.isAlive())) {
        throw new ReadinessFailedError(
          `instance ${instance.instanceId} exited before it was ready`,
          { instanceId: instance.instanceId, reason: 'exited' },
        );
      }
      const result = await check(instance, probe);
      if (result.ok) break;
      last = result.detail;
      if (Date.now() >= deadline) {
        throw new ReadinessFailedError(
          `instance ${instance.instanceId} did not pass its ${probe.type} probe '${probe.name}' within ${timeoutMs} ms: ${last}`,
          { instanceId: instance.instanceId, reason: 'probe' },
        );
      }
      await new Promise(r =>
        setTimeout(r, Math.min(250, Math.max(10, deadline - Date.now()))),
      );
    }
  }
}

async function check(
  instance: RuntimeInstance,
  probe: ProbeDefinition,
): Promise<{ ok: boolean; detail: string }> {
  if (probe.method === 'tcp') {
    const port = probe.tcp?.port ?? instance.port;
    const ok = await canConnect(instance.host, port, 1000);
    return {
      ok,
      detail: ok
        ? 'connected'
        : `no TCP connection to ${instance.host}:${port}`,
    };
  }
  const http = probe.http!;
  const url = `http://${instance.host}:${http.port ?? instance.port}${
    http.path
  }`;
  const expected = http.expectedStatusCodes;
  try {
    const response = await fetch(url, {
      headers: http.headers,
      signal: AbortSignal.timeout(
        http.timeout ?? (probe.timeoutSeconds ?? 1) * 1000,
      ),
    });
    await response.body?.cancel();
    const ok = expected
      ? expected.includes(response.status)
      : response.status >= 200 && response.status < 400;
    return { ok, detail: `GET ${http.path} answered ${response.status}` };
  } catch (error) {
    return {
      ok: false,
      detail: `GET ${http.path} failed: ${(error as Error).message}`,
    };
  }
}
