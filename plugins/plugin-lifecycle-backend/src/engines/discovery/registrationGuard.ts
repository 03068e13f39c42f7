import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { ReservedServiceNames } from './ReservedServiceNames';
import { TargetPolicy } from './TargetPolicy';

/** What a registration guard reads of a request. */
export interface GuardedRegistration {
  serviceName: string;
  host: string;
  port: number;
  healthCheck?: unknown;
}

/** The ports a health check connects to besides the service's own. */
export function probePorts(healthCheck: unknown): number[] {
  const probe = healthCheck as Partial<ProbeDefinition> | undefined;
  if (!probe || typeof probe !== 'object') return [];
  return [probe.http?.port, probe.tcp?.port, probe.grpc?.port].filter(
    (p): p is number => typeof p === 'number',
  );
}

/**
 * Refuses registrations that would take over a managed plugin's traffic (a
 * reserved service name: 409) or point discovery, the proxy or a probe
 * outside `allowedTargets` (400), before anything is stored. Names and
 * targets are checked once each, however many registrations share them.
 */
export async function checkRegistrations(
  requests: readonly GuardedRegistration[],
  options: {
    reservedNames: ReservedServiceNames;
    /** Which of these names are installed plugins' ids (one look for all). */
    managedPlugins: (names: string[]) => Promise<ReadonlySet<string>>;
    targets?: TargetPolicy;
  },
): Promise<void> {
  const names = [...new Set(requests.map(r => r.serviceName))];
  const managed = await options.managedPlugins(names);
  for (const name of names) {
    options.reservedNames.assertFree(name, id => managed.has(id));
  }
  const targets = options.targets;
  if (!targets) return;
  const checked = new Set<string>();
  for (const request of requests) {
    for (const port of [request.port, ...probePorts(request.healthCheck)]) {
      const key = `${request.host}|${port}`;
      if (checked.has(key)) continue;
      checked.add(key);
      await targets.assertAllowed(
        request.host,
        port,
        `Service '${request.serviceName}'${
          port === request.port ? '' : ' (its health check)'
        }`,
      );
    }
  }
}
