import {
  InstanceOverride,
  RunningInstance,
  ServiceStore,
  StoredService,
} from '../../database/ServiceStore';
import { poolKey } from './discoveryEntries';

type RunningSnapshot = Awaited<
  ReturnType<ServiceStore['listRunningInstances']>
>;

/**
 * What discovery's view is made of, as last read: registered services,
 * running plugin instances, plugins and instance overrides, indexed by
 * pool. Only ever replaced by newer data (by revision); each `apply…`
 * answers the pools it touched, for the view to rebuild.
 */
export class ViewSources {
  registered = new Map<string, StoredService>();
  running = new Map<string, RunningInstance>();
  /** Plugin id → tenant. */
  plugins = new Map<string, string>();
  readonly overrides = new Map<string, InstanceOverride>();
  /** How many plugins there were at the last look (plugins are never deleted). */
  pluginCount = 0;
  /** Revisions of deletions, so a stale read does not bring a service back. */
  readonly #deleted = new Map<string, number>();
  /** Pool key → the registered services in it. */
  readonly #registeredByPool = new Map<string, Set<string>>();
  /** Pool key → the running instances in it. */
  readonly #runningByPool = new Map<string, Set<string>>();

  registeredIn(key: string): Iterable<string> {
    return this.#registeredByPool.get(key) ?? [];
  }

  runningIn(key: string): Iterable<string> {
    return this.#runningByPool.get(key) ?? [];
  }

  /** Every pool something is in, and every plugin's (it exists before its first instance). */
  poolKeys(): Set<string> {
    const keys = new Set<string>([
      ...this.#registeredByPool.keys(),
      ...this.#runningByPool.keys(),
    ]);
    for (const [pluginId, tenant] of this.plugins) {
      keys.add(poolKey(tenant, pluginId));
    }
    return keys;
  }

  /** A full reload: every row, each kept only if newer than what the view holds. */
  replaceAll(
    services: StoredService[],
    running: RunningSnapshot,
    overrides: InstanceOverride[],
  ): void {
    const registered = new Map<string, StoredService>();
    for (const service of services) {
      const current = this.registered.get(service.serviceId);
      const deleted = this.#deleted.get(service.serviceId);
      if (deleted !== undefined && deleted > service.revision) continue;
      registered.set(
        service.serviceId,
        current && current.revision > service.revision ? current : service,
      );
    }
    this.registered = registered;
    this.#registeredByPool.clear();
    for (const service of registered.values()) {
      this.#index(
        service.serviceId,
        poolKey(service.tenant, service.serviceName),
      );
    }
    this.#deleted.clear();
    for (const override of overrides) this.applyOverride(override);
    this.running = new Map(running.instances.map(i => [i.instanceId, i]));
    this.plugins = new Map(running.plugins.map(p => [p.pluginId, p.tenant]));
    this.pluginCount = running.plugins.length;
    this.#runningByPool.clear();
    for (const instance of running.instances) this.#indexInstance(instance);
  }

  /** Takes a newer row of a registered service; the pools it touched. */
  applyService(service: StoredService): string[] {
    const current = this.registered.get(service.serviceId);
    if (current && current.revision > service.revision) return [];
    const deleted = this.#deleted.get(service.serviceId);
    if (deleted !== undefined && deleted > service.revision) return [];
    this.#deleted.delete(service.serviceId);
    this.registered.set(service.serviceId, service);
    const key = poolKey(service.tenant, service.serviceName);
    const before = current && poolKey(current.tenant, current.serviceName);
    if (before !== undefined && before !== key) {
      this.#unindex(service.serviceId, before);
    }
    this.#index(service.serviceId, key);
    return before !== undefined && before !== key ? [before, key] : [key];
  }

  /**
   * Drops a deleted service unless the view holds a newer row; the pools it
   * touched, or undefined when a newer row stays.
   */
  forget(serviceId: string, revision: number): string[] | undefined {
    const current = this.registered.get(serviceId);
    if (current && current.revision > revision) return undefined;
    this.registered.delete(serviceId);
    this.#deleted.set(serviceId, revision);
    if (!current) return [];
    const key = poolKey(current.tenant, current.serviceName);
    this.#unindex(serviceId, key);
    return [key];
  }

  /** Takes a newer override of an instance; the pool it touched. */
  applyOverride(override: InstanceOverride): string[] {
    const current = this.overrides.get(override.instanceId);
    if (current && current.revision > override.revision) return [];
    this.overrides.set(override.instanceId, override);
    const instance = this.running.get(override.instanceId);
    return instance ? [poolKey(instance.tenant, instance.pluginId)] : [];
  }

  /**
   * An instance that changed: running (as given) or not; the pools it
   * touched. `tenantsOf` names the tenants a service name has pools in: a
   * plugin seen for the first time takes its name from registrations there.
   */
  applyInstance(
    instanceId: string,
    instance: RunningInstance | undefined,
    tenantsOf: (name: string) => Iterable<string>,
  ): string[] {
    const touched: string[] = [];
    const before = this.running.get(instanceId);
    if (before) {
      const key = poolKey(before.tenant, before.pluginId);
      const ids = this.#runningByPool.get(key);
      ids?.delete(instanceId);
      if (ids?.size === 0) this.#runningByPool.delete(key);
      this.running.delete(instanceId);
      touched.push(key);
    }
    if (instance) {
      this.running.set(instanceId, instance);
      if (!this.plugins.has(instance.pluginId)) {
        for (const other of tenantsOf(instance.pluginId)) {
          touched.push(poolKey(other, instance.pluginId));
        }
      }
      this.plugins.set(instance.pluginId, instance.tenant);
      touched.push(this.#indexInstance(instance));
    }
    return touched;
  }

  #indexInstance(instance: RunningInstance): string {
    const key = poolKey(instance.tenant, instance.pluginId);
    let ids = this.#runningByPool.get(key);
    if (!ids) {
      ids = new Set();
      this.#runningByPool.set(key, ids);
    }
    ids.add(instance.instanceId);
    return key;
  }

  #index(serviceId: string, key: string) {
    let ids = this.#registeredByPool.get(key);
    if (!ids) {
      ids = new Set();
      this.#registeredByPool.set(key, ids);
    }
    ids.add(serviceId);
  }

  #unindex(serviceId: string, key: string) {
    const ids = this.#registeredByPool.get(key);
    ids?.delete(serviceId);
    if (ids?.size === 0) this.#registeredByPool.delete(key);
  }
}
