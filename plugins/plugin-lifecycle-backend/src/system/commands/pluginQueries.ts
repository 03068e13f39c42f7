import {
  DEPLOYMENT_PHASES,
  DeploymentPhase,
  LIFECYCLE_STATES,
  TERMINAL_DEPLOYMENT_PHASES,
  LifecycleState,
  AvailableVersions,
  PluginDetails,
  PluginSummary,
  StateTransition,
  SystemMetrics,
  InstancesByHealth,
  availableActions,
} from '@internal/plugin-lifecycle-common';
import type { HealthVerdict } from '../../domain/health/trends';
import type { VersionRequestStats } from '../../engines/discovery/ProxyMetrics';
import { healthLabel } from '../../engines/metrics/MetricsReadModel';
import { DeploymentStore } from '../../database/DeploymentStore';
import { InstanceStore } from '../../database/InstanceStore';
import { OperationStore } from '../../database/OperationStore';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import { AvailableVersionsQuery } from '../../engines/versions/AvailableVersionsQuery';
import { CrashRestarter } from '../../engines/lifecycle/CrashRestarter';
import { Orchestrator } from '../../engines/orchestrator/Orchestrator';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../../domain/tenancy';
import { PluginLookup } from './pluginLookup';

export type { SystemMetrics } from '@internal/plugin-lifecycle-common';

/** Options of {@link PluginQueries.create}. */
export interface PluginQueriesOptions {
  plugins: PluginStore;
  instances: InstanceStore;
  operations: OperationStore;
  crashRestarter: Pick<CrashRestarter, 'status'>;
  orchestrator: Pick<Orchestrator, 'runningCount'>;
  lookup: PluginLookup;
  deployments: Pick<DeploymentStore, 'countByPhase'>;
  availableVersions: AvailableVersionsQuery;
  /** The latest health verdict on an instance (absent: no health monitor). */
  instanceHealth?: (instanceId: string) => HealthVerdict | undefined;
  /** This replica's proxy counters per (tenant, service, version). */
  proxyVersions?: () => VersionRequestStats[];
}

/** Reads plugins, their history and the system's counts within the caller's tenants. */
export class PluginQueries {
  readonly #o: PluginQueriesOptions;

  static create(options: PluginQueriesOptions): PluginQueries {
    return new PluginQueries(options);
  }

  private constructor(options: PluginQueriesOptions) {
    this.#o = options;
  }

  /** The stored plugin, whatever its tenant (callers check the scope). */
  findPluginRecord(pluginId: string): Promise<PluginRecord | undefined> {
    return this.#o.plugins.get(pluginId);
  }

  /**
   * Plugins by id, in the caller's tenants; with `page`, at most `limit`
   * after the id `after`.
   */
  async listPlugins(
    filter: {
      state?: LifecycleState;
      tenant?: string;
      entityRef?: string;
    } = {},
    scope: TenantScope = ALL_TENANTS,
    page: { limit?: number; after?: string } = {},
  ): Promise<PluginSummary[]> {
    return (
      await this.#o.plugins.list({
        ...filter,
        ...page,
        // In the query, so a page is full whatever the other tenants hold.
        ...(scope.all === true ? {} : { tenants: scope.tenants }),
      })
    ).map(toSummary);
  }

  /** The plugin with its versions, instances, possible actions and restart budget. */
  async getPlugin(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<PluginDetails> {
    const { plugins, instances, operations } = this.#o;
    const plugin = await this.#o.lookup.get(pluginId, scope);
    const [versions, active, ended, busy] = await Promise.all([
      plugins.listVersions(plugin.id),
      instances.listForPlugin(plugin.id, { activeOnly: true }),
      instances.listForPlugin(plugin.id, { endedOnly: true, limit: 10 }),
      operations.hasUnfinished(plugin.id),
    ]);
    return {
      ...toSummary(plugin),
      versions: versions.map(({ location: _l, ...v }) => v),
      instances: active,
      endedInstances: ended,
      availableActions: busy ? [] : availableActions(plugin.state),
      restarts: await this.#o.crashRestarter.status(plugin.id),
    };
  }

  /**
   * The versions the plugin's artifact source offers, newest first (see
   * {@link AvailableVersionsQuery}); also for a configured plugin never installed.
   */
  listAvailableVersions(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<AvailableVersions> {
    return this.#o.availableVersions.list(pluginId, scope);
  }

  /** The plugin's state transitions, oldest first; 500 unless `page.limit`, after the id `page.afterId`. */
  async getHistory(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
    page: { limit?: number; afterId?: number } = {},
  ): Promise<StateTransition[]> {
    const plugin = await this.#o.lookup.get(pluginId, scope);
    return this.#o.plugins.history(plugin.id, page);
  }

  /** Plugins by state, running instances and operations by status, in the caller's tenants. */
  async getSystemMetrics(
    scope: TenantScope = ALL_TENANTS,
  ): Promise<SystemMetrics> {
    const plugins = (await this.#o.plugins.list()).filter(p =>
      inTenantScope(scope, p.tenant),
    );
    const byState = Object.fromEntries(
      LIFECYCLE_STATES.map(s => [s, 0]),
    ) as Record<LifecycleState, number>;
    plugins.forEach(p => byState[p.state]++);
    const ids = new Set(plugins.map(p => p.id));
    const active = (await this.#o.instances.listActive()).filter(i =>
      ids.has(i.pluginId),
    );
    const byPhase = (await this.#o.deployments.countByPhase(scope)) as Partial<
      Record<DeploymentPhase, number>
    >;
    const count = (phases: readonly string[]) =>
      phases.reduce((n, p) => n + (byPhase[p as DeploymentPhase] ?? 0), 0);
    const ended = count(TERMINAL_DEPLOYMENT_PHASES);
    const health = this.#health(plugins, active);
    return {
      plugins: { total: plugins.length, byState },
      instances: {
        running: active.filter(i => i.status === 'running').length,
        byHealth: health.instancesByHealth,
      },
      operations: {
        byStatus: await this.#o.operations.countByStatus(),
        runningHere: this.#o.orchestrator.runningCount(),
      },
      healthMonitoring: health,
      deployment: {
        activeDeployments: count(
          DEPLOYMENT_PHASES.filter(
            p => !TERMINAL_DEPLOYMENT_PHASES.includes(p),
          ),
        ),
        byPhase,
        completedDeployments: ended,
        ...(ended > 0
          ? {
              successRate:
                Math.round((count(['succeeded']) / ended) * 10_000) / 100,
            }
          : {}),
      },
      serviceDiscovery: this.#serviceDiscovery(scope),
    };
  }

  /** Instances by health, and each plugin classed by its worst instance. */
  #health(
    plugins: PluginRecord[],
    active: Array<{ id: string; pluginId: string }>,
  ): SystemMetrics['healthMonitoring'] {
    const instancesByHealth: InstancesByHealth = {
      healthy: 0,
      degraded: 0,
      unhealthy: 0,
      unknown: 0,
      notChecked: 0,
    };
    const perPlugin = new Map<string, Set<keyof InstancesByHealth>>();
    const verdictOf = this.#o.instanceHealth;
    const probed = new Set(
      plugins.filter(p => (p.probes?.length ?? 0) > 0).map(p => p.id),
    );
    for (const instance of active) {
      const label = healthLabel(
        verdictOf?.(instance.id),
        probed.has(instance.pluginId),
      );
      const key = label === 'not_checked' ? 'notChecked' : label;
      instancesByHealth[key]++;
      let seen = perPlugin.get(instance.pluginId);
      if (!seen) perPlugin.set(instance.pluginId, (seen = new Set()));
      seen.add(key);
    }
    let healthyPlugins = 0;
    let degradedPlugins = 0;
    let unhealthyPlugins = 0;
    let uncheckedPlugins = 0;
    for (const plugin of plugins) {
      const seen = perPlugin.get(plugin.id);
      if (
        plugin.state === 'error' ||
        seen?.has('unhealthy') ||
        (plugin.state === 'running' && !seen)
      ) {
        unhealthyPlugins++;
      } else if (seen?.has('degraded')) {
        degradedPlugins++;
      } else if (plugin.state === 'running') {
        if (seen?.has('healthy')) healthyPlugins++;
        else uncheckedPlugins++;
      }
    }
    return {
      healthyPlugins,
      degradedPlugins,
      unhealthyPlugins,
      uncheckedPlugins,
      instancesByHealth,
    };
  }

  /** The proxy's counters of this replica, in the caller's tenants. */
  #serviceDiscovery(scope: TenantScope): SystemMetrics['serviceDiscovery'] {
    const versions = (this.#o.proxyVersions?.() ?? []).filter(
      v =>
        scope.all === true ||
        (v.tenant !== undefined && inTenantScope(scope, v.tenant)),
    );
    let requests = 0;
    let failed = 0;
    let latencyCount = 0;
    let latencySum = 0;
    let active = 0;
    const services = new Set<string>();
    for (const v of versions) {
      requests += v.requests;
      failed += v.status['5xx'] + v.status.errors;
      latencyCount += v.latency.count;
      latencySum += v.latency.sumMs;
      active += v.activeConnections;
      if (v.requests > 0)
        services.add(`${v.tenant ?? ''}\u0000${v.serviceName}`);
    }
    return {
      averageResponseTime:
        latencyCount === 0
          ? 0
          : Math.round((latencySum / latencyCount) * 100) / 100,
      totalRequests: requests,
      errorRate: requests === 0 ? 0 : failed / requests,
      activeConnections: active,
      servicesWithTraffic: services.size,
    };
  }
}

function toSummary(plugin: PluginRecord): PluginSummary {
  const {
    configuration: _c,
    probes: _p,
    environment: _e,
    operationId: _o,
    breaker: _b,
    ...summary
  } = plugin;
  return summary;
}
