import { NotAllowedError } from '@backstage/errors';
import { ALL_TENANTS, TenantScope, inTenantScope } from '../../domain/tenancy';
import { PluginLifecycleConfig } from '../../config';
import { InstanceStore } from '../../database/InstanceStore';
import { PluginStore } from '../../database/PluginStore';
import {
  ResourceAmounts,
  Usage,
  checkQuota,
  instanceResources,
  parseCpu,
  parseMemory,
} from '../../domain/orchestration';

/**
 * Tenants from app-config: who belongs to which tenant (by the caller's
 * ownership entity refs: the user and its groups) and each tenant's quota.
 */
export class Tenancy {
  readonly #config: PluginLifecycleConfig;
  readonly #plugins: PluginStore;
  readonly #instances: InstanceStore;

  constructor(options: {
    config: PluginLifecycleConfig;
    plugins: PluginStore;
    instances: InstanceStore;
  }) {
    this.#config = options.config;
    this.#plugins = options.plugins;
    this.#instances = options.instances;
  }

  get enabled() {
    return this.#config.tenancy.enabled;
  }

  /** The scope of a user given its ownership entity refs. */
  scopeForUser(ownershipEntityRefs: string[]): TenantScope {
    const { tenancy } = this.#config;
    if (!tenancy.enabled) return ALL_TENANTS;
    const refs = new Set(ownershipEntityRefs);
    if (tenancy.admins.some(a => refs.has(a))) return ALL_TENANTS;
    return {
      tenants: Object.entries(tenancy.tenants)
        .filter(([, t]) => t.members.some(m => refs.has(m)))
        .map(([id]) => id),
    };
  }

  /**
   * The tenant a new plugin goes to: the one asked for (if the caller may
   * use it), else the caller's only tenant, else the default tenant.
   */
  tenantForNewPlugin(scope: TenantScope, requested?: string): string {
    const fallback =
      requested ??
      (scope.all !== true && scope.tenants.length === 1
        ? scope.tenants[0]
        : undefined) ??
      this.#config.defaultTenant;
    if (
      this.enabled &&
      !Object.hasOwn(this.#config.tenancy.tenants, fallback) &&
      fallback !== this.#config.defaultTenant
    ) {
      throw new NotAllowedError(`Unknown tenant '${fallback}'`);
    }
    if (!inTenantScope(scope, fallback)) {
      throw new NotAllowedError(
        requested
          ? `You may not manage plugins of tenant '${requested}'`
          : `Say which tenant the plugin belongs to (you belong to ${
              scope.all === true ? 'all' : scope.tenants.join(', ') || 'none'
            })`,
      );
    }
    return fallback;
  }

  /** What a tenant uses now: plugins not inactive, active instances and their resources. */
  async usage(tenant: string, excludePluginId?: string): Promise<Usage> {
    const plugins = (await this.#plugins.list({ tenant })).filter(
      p => p.state !== 'inactive' && p.id !== excludePluginId,
    );
    const usage: Usage = {
      plugins: plugins.length,
      instances: 0,
      cpuMillicores: 0,
      memoryMiB: 0,
    };
    for (const plugin of plugins) {
      const active = await this.#instances.listForPlugin(plugin.id, {
        activeOnly: true,
      });
      if (active.length === 0) continue;
      const version = plugin.currentVersion
        ? await this.#plugins.getVersion(plugin.id, plugin.currentVersion)
        : undefined;
      const each = this.resourcesOf(plugin.id, version?.manifest.resources);
      usage.instances += active.length;
      usage.cpuMillicores += active.length * each.cpuMillicores;
      usage.memoryMiB += active.length * each.memoryMiB;
    }
    return usage;
  }

  /**
   * What one instance of a plugin counts against its tenant's quota: its
   * manifest's request, capped by app-config (`plugins.<id>.resources`, else
   * `tenancy.instanceResources`), which also counts when the manifest asks
   * for nothing.
   */
  resourcesOf(pluginId: string, requested?: ResourceAmounts) {
    return instanceResources(
      requested,
      this.#config.plugins[pluginId]?.resources ??
        this.#config.tenancy.instanceResources,
    );
  }

  /** Quota problems if the tenant took on `request` more; empty when it fits. */
  async checkQuota(
    tenant: string,
    request: Partial<Usage>,
    excludePluginId?: string,
  ): Promise<string[]> {
    const quota = this.#config.tenancy.tenants[tenant]?.quota;
    if (!this.enabled || !quota) return [];
    const problems = checkQuota(
      {
        maxPlugins: quota.maxPlugins,
        maxInstances: quota.maxInstances,
        maxCpuMillicores: quota.maxCpu ? parseCpu(quota.maxCpu) : undefined,
        maxMemoryMiB: quota.maxMemory
          ? parseMemory(quota.maxMemory)
          : undefined,
      },
      await this.usage(tenant, excludePluginId),
      request,
    );
    return problems.map(p => `tenant '${tenant}': ${p}`);
  }
}
