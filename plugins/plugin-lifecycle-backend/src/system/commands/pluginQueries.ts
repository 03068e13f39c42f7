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
  availableActions,
} from '@internal/plugin-lifecycle-common';
import { DeploymentStore } from '../../database/DeploymentStore';
import { InstanceStore } from '../../database/InstanceStore';
import { OperationStore } from '../../database/OperationStore';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import { AvailableVersionsQuery } from '../../engines/versions/AvailableVersionsQuery';
import { CrashRestarter } from '../../engines/lifecycle/CrashRestarter';
import { Orchestrator } from '../../engines/orchestrator/Orchestrator';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../../domain/tenancy';
import { PluginLookup } from './pluginLookup';

/** @public */
export interface SystemMetrics {
  plugins: { total: number; byState: Record<LifecycleState, number> };
  instances: { running: number };
  operations: { byStatus: Record<string, number>; runningHere: number };
  /** The design's `metrics.deployment`. */
  deployment: {
    /** Deployments not ended: pending, progressing, paused, awaiting approval, rolling back. */
    activeDeployments: number;
    byPhase: Partial<Record<DeploymentPhase, number>>;
    /**
     * Percent of ended deployments that succeeded (rolled back, aborted and
     * failed count against it); undefined before the first one ends.
     */
    successRate?: number;
  };
}

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
    return {
      plugins: { total: plugins.length, byState },
      instances: { running: active.filter(i => i.status === 'running').length },
      operations: {
        byStatus: await this.#o.operations.countByStatus(),
        runningHere: this.#o.orchestrator.runningCount(),
      },
      deployment: {
        activeDeployments: count(
          DEPLOYMENT_PHASES.filter(
            p => !TERMINAL_DEPLOYMENT_PHASES.includes(p),
          ),
        ),
        byPhase,
        ...(ended > 0
          ? {
              successRate:
                Math.round((count(['succeeded']) / ended) * 10_000) / 100,
            }
          : {}),
      },
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
