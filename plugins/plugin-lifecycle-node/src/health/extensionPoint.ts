import { createExtensionPoint } from '@backstage/backend-plugin-api';
import { ProbeDefinition } from '@internal/plugin-lifecycle-common';

/**
 * The instance a custom probe checks.
 *
 * @public
 */
export interface HealthProbeTarget {
  pluginId: string;
  instanceId: string;
  host: string;
  port: number;
}

/**
 * A probe function for probes of method `custom` (`custom: { name }`): true
 * or `{ ok: true }` is healthy. It should stop when the signal aborts; the
 * probe fails at its `timeoutSeconds` either way, and a throw is a failure.
 *
 * @public
 */
export type HealthProbeFunction = (
  target: HealthProbeTarget,
  probe: ProbeDefinition,
  signal: AbortSignal,
) =>
  | Promise<boolean | { ok: boolean; message?: string; latencyMs?: number }>
  | boolean
  | { ok: boolean; message?: string; latencyMs?: number };

/** @public */
export interface PluginLifecycleHealthProbesExtensionPoint {
  /** Adds a named probe function; a second one with the same name is an error. */
  addProbeFunction(name: string, fn: HealthProbeFunction): void;
}

/**
 * Lets backend modules add custom health probes, which plugins' probe
 * definitions then name (`method: 'custom', custom: { name }`).
 *
 * @public
 */
export const pluginLifecycleHealthProbesExtensionPoint =
  createExtensionPoint<PluginLifecycleHealthProbesExtensionPoint>({
    id: 'plugin-lifecycle.health-probes',
  });
