import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import type { TenantScope } from '../../domain/tenancy';
import type {
  HealthMonitor,
  PluginHealth,
} from '../../engines/health/HealthMonitor';

/** Options of {@link HealthQueries.create}. */
export interface HealthQueriesOptions {
  health: HealthMonitor;
}

/**
 * The health monitor as the facade offers it: a plugin's health per
 * instance and probe, and setting its probes, within the caller's tenants.
 */
export class HealthQueries {
  readonly #health: HealthMonitor;

  static create(options: HealthQueriesOptions): HealthQueries {
    return new HealthQueries(options);
  }

  private constructor(options: HealthQueriesOptions) {
    this.#health = options.health;
  }

  getPluginHealth(
    pluginId: string,
    options: { scope?: TenantScope; recentPerProbe?: number } = {},
  ): Promise<PluginHealth> {
    return this.#health.getPluginHealth(pluginId, options);
  }

  /** Replaces a plugin's probe definitions; answers them as stored. */
  registerPluginProbes(
    pluginId: string,
    probes: ProbeDefinition[],
    options: { scope?: TenantScope } = {},
  ): Promise<ProbeDefinition[]> {
    return this.#health.registerPluginProbes(pluginId, probes, options);
  }
}
