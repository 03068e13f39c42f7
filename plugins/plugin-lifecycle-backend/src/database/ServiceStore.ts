import { Knex } from 'knex';
import {
  changesSince,
  maxRevision,
  minRevision,
  pruneChanges,
} from './operations/services/changeLog';
import {
  deregister,
  expire,
  updateService,
} from './operations/services/changeServices';
import { heartbeat, heartbeatMany } from './operations/services/heartbeats';
import {
  listInstanceOverrides,
  pruneInstanceOverrides,
  setInstanceOverride,
} from './operations/services/instanceOverrides';
import {
  countPlugins,
  existingPluginIds,
  getRunningInstances,
  findInstanceIds,
  isInstanceId,
  listPlugins,
  listRunningInstances,
  pluginTenant,
} from './operations/services/pluginInstances';
import {
  getService,
  getServices,
  listServices,
} from './operations/services/readServices';
import { register, registerMany } from './operations/services/registerServices';
import {
  InstanceOverride,
  RunningInstance,
  ServiceChange,
  ServiceInput,
  ServicePatch,
  StoredService,
} from './operations/services/serviceTypes';
import { SERVICES_NOTIFY_CHANNEL } from './serviceChanges';

export type {
  InstanceOverride,
  RunningInstance,
  ServiceChange,
  ServiceInput,
  ServicePatch,
  StoredService,
};
export { SERVICES_NOTIFY_CHANNEL };

/**
 * Services registered through the discovery API, the live settings of
 * plugin instances, and the change log the other backend replicas follow.
 * Every write appends to the log in its own transaction; on PostgreSQL it
 * also notifies {@link SERVICES_NOTIFY_CHANNEL}, delivered on commit.
 */
export class ServiceStore {
  readonly #db: Knex;

  private constructor(db: Knex) {
    this.#db = db;
  }

  static create(options: { db: Knex }): ServiceStore {
    return new ServiceStore(options.db);
  }

  /**
   * Registers a service instance, or replaces the registration with the
   * same id; a replacement keeps its health verdict and registration time
   * and counts as a heartbeat. Throws a `ConflictError` if the id is taken
   * in another tenant (saying only that it is not available).
   */
  register(
    input: ServiceInput,
    now: Date,
  ): Promise<{ service: StoredService; created: boolean }> {
    return register(this.#db, input, now);
  }

  /**
   * Registers many services in one transaction, as {@link ServiceStore.register}
   * does one: all or none. Throws a `ConflictError` naming the first id taken
   * in another tenant. The ids must be distinct.
   */
  registerMany(
    inputs: ServiceInput[],
    now: Date,
  ): Promise<Array<{ service: StoredService; created: boolean }>> {
    return registerMany(this.#db, inputs, now);
  }

  /**
   * Heartbeats of many services: one UPDATE per distinct TTL setting in the
   * usual case, {@link ServiceStore.heartbeat} one by one for expired
   * services (a revival is logged) and for those changed meanwhile. Returns
   * the services renewed and the ids unknown.
   */
  heartbeatMany(
    serviceIds: string[],
    now: Date,
  ): Promise<{
    renewed: Array<{ service: StoredService; revived: boolean }>;
    unknown: string[];
  }> {
    return heartbeatMany(this.#db, serviceIds, now);
  }

  get(serviceId: string): Promise<StoredService | undefined> {
    return getService(this.#db, serviceId);
  }

  /** Services by id, for the ids that still exist. */
  getMany(serviceIds: string[]): Promise<StoredService[]> {
    return getServices(this.#db, serviceIds);
  }

  /** Services, by tenants and name when given, ordered by name and id. */
  list(
    filter: { tenants?: string[]; serviceName?: string } = {},
  ): Promise<StoredService[]> {
    return listServices(this.#db, filter);
  }

  /**
   * Removes a registration: the removed service, its revision that of the
   * deletion; undefined if unknown.
   */
  deregister(
    serviceId: string,
    now: Date = new Date(),
  ): Promise<StoredService | undefined> {
    return deregister(this.#db, serviceId, now);
  }

  /**
   * Records a heartbeat: pushes the TTL and deregistration deadlines out.
   * Usually a read and one guarded UPDATE with no log entry, since other
   * replicas need not know; a heartbeat that revives an expired service
   * is logged.
   * `undefined` for an unknown service.
   */
  heartbeat(
    serviceId: string,
    now: Date,
  ): Promise<{ service: StoredService; revived: boolean } | undefined> {
    return heartbeat(this.#db, serviceId, now);
  }

  /**
   * Changes live settings; the updated service, or undefined if unknown.
   * Logs a change only when a value actually changed.
   */
  update(
    serviceId: string,
    patch: ServicePatch,
    now: Date = new Date(),
  ): Promise<StoredService | undefined> {
    return updateService(this.#db, serviceId, patch, now);
  }

  setWeight(serviceId: string, weight: number) {
    return this.update(serviceId, { weight });
  }

  setMaxConnections(serviceId: string, maxConnections: number | null) {
    return this.update(serviceId, { maxConnections });
  }

  setReady(serviceId: string, ready: boolean) {
    return this.update(serviceId, { ready });
  }

  setHealthScore(serviceId: string, healthScore: number) {
    return this.update(serviceId, { healthScore });
  }

  /**
   * Marks services whose TTL passed without a heartbeat as expired (no
   * traffic until the next heartbeat) and removes those past their
   * deregistration deadline. Safe to run on every replica at once: each
   * change is made, and logged, by one of them.
   */
  expire(now: Date): Promise<{ expired: string[]; deregistered: string[] }> {
    return expire(this.#db, now);
  }

  /** Log entries after a revision, oldest first. */
  changesSince(revision: number, limit = 500): Promise<ServiceChange[]> {
    return changesSince(this.#db, revision, limit);
  }

  maxRevision(): Promise<number> {
    return maxRevision(this.#db);
  }

  /** The oldest revision still in the log (0 when it is empty). */
  minRevision(): Promise<number> {
    return minRevision(this.#db);
  }

  /** Deletes log entries older than `before`, always keeping the newest. */
  pruneChanges(before: Date): Promise<number> {
    return pruneChanges(this.#db, before);
  }

  /**
   * Sets live settings of a plugin instance (undefined leaves a field,
   * null clears it back to the default). Logs a change when something
   * changed; returns the override.
   */
  setInstanceOverride(
    instanceId: string,
    patch: {
      weight?: number | null;
      maxConnections?: number | null;
      ready?: boolean | null;
      healthScore?: number | null;
    },
    now: Date = new Date(),
  ): Promise<InstanceOverride> {
    return setInstanceOverride(this.#db, instanceId, patch, now);
  }

  /** Overrides, of the given instances or all. */
  listInstanceOverrides(instanceIds?: string[]): Promise<InstanceOverride[]> {
    return listInstanceOverrides(this.#db, instanceIds);
  }

  /** Deletes the overrides of instances that are no longer active. */
  pruneInstanceOverrides(): Promise<number> {
    return pruneInstanceOverrides(this.#db);
  }

  /**
   * Running plugin instances with their plugin's tenant, and every managed
   * plugin (so a plugin with no running instance is known, not unknown).
   */
  listRunningInstances(): Promise<{
    plugins: Array<{ pluginId: string; tenant: string }>;
    instances: RunningInstance[];
  }> {
    return listRunningInstances(this.#db);
  }

  /** These plugin instances, those that are running, with their plugin's tenant. */
  getRunningInstances(instanceIds: string[]): Promise<RunningInstance[]> {
    return getRunningInstances(this.#db, instanceIds);
  }

  /**
   * How many plugins exist. Plugins are never deleted (an uninstalled one
   * is inactive), so a new count means new plugins.
   */
  countPlugins(): Promise<number> {
    return countPlugins(this.#db);
  }

  /** Every managed plugin and its tenant. */
  listPlugins(): Promise<Array<{ pluginId: string; tenant: string }>> {
    return listPlugins(this.#db);
  }

  /** Whether a plugin instance has this id (registrations may not reuse it). */
  isInstanceId(id: string): Promise<boolean> {
    return isInstanceId(this.#db, id);
  }

  /** Which of these ids are plugin instances. */
  instanceIds(ids: string[]): Promise<Set<string>> {
    return findInstanceIds(this.#db, ids);
  }

  /** The tenant of a managed plugin, or undefined. */
  pluginTenant(pluginId: string): Promise<string | undefined> {
    return pluginTenant(this.#db, pluginId);
  }

  /** Which of `ids` are plugins (in any tenant): one query, in chunks for SQLite's variable limit. */
  existingPluginIds(ids: readonly string[]): Promise<Set<string>> {
    return existingPluginIds(this.#db, ids);
  }
}
