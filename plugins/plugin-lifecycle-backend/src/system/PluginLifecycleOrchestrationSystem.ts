import {
  AvailableVersions,
  BatchAccepted,
  PluginCatalogSync,
  Deployment,
  DeploymentAction,
  DeploymentActionRequest,
  DeploymentActionResult,
  Operation,
  OperationAccepted,
  PluginDetails,
  PluginSummary,
  StateTransition,
  UpdateRequest,
  LifecycleState,
} from '@internal/plugin-lifecycle-common';
import { QueuedOperation } from '../database/OperationStore';
import { PluginRecord } from '../database/PluginStore';
import { ConfigurationManager } from '../engines/configuration/ConfigurationManager';
import { HealthMonitor } from '../engines/health/HealthMonitor';
import { ServiceDiscovery } from '../engines/discovery/ServiceDiscovery';
import { SystemEvents } from '../events/SystemEvents';
import { SystemEventListeners } from '../events/eventMap';
import { ALL_TENANTS, TenantScope } from '../domain/tenancy';
import { Tenancy } from '../engines/tenancy/Tenancy';
import { BatchCommands } from './commands/batchCommands';
import { CatalogSyncQueries } from './commands/catalogSyncQueries';
import { ConfigBackupCommands } from './commands/configBackupCommands';
import {
  DeploymentCommands,
  DeploymentListFilter,
} from './commands/deploymentCommands';
import { DiscoveryCommands } from './commands/discoveryCommands';
import { HealthQueries } from './commands/healthQueries';
import {
  ActionOptions,
  InstallCommands,
  InstallPluginOptions,
} from './commands/installCommands';
import { LifecycleCommands } from './commands/lifecycleCommands';
import { MaintenanceCommands } from './commands/maintenanceCommands';
import { OperationQueries } from './commands/operationQueries';
import { PluginQueries, SystemMetrics } from './commands/pluginQueries';

export type {
  ActionOptions,
  InstallPluginOptions,
} from './commands/installCommands';
export type { SystemMetrics } from './commands/pluginQueries';
export type { DeploymentListFilter } from './commands/deploymentCommands';

/**
 * The command and query modules the facade serves, built by the wiring
 * (`createOrchestrationSystem`).
 */
export interface OrchestrationSystemParts {
  events: SystemEvents;
  tenancy: Tenancy;
  configuration: ConfigurationManager;
  install: InstallCommands;
  lifecycle: LifecycleCommands;
  batch: BatchCommands;
  maintenance: MaintenanceCommands;
  plugins: PluginQueries;
  operations: OperationQueries;
  configBackup: ConfigBackupCommands;
  deploymentCommands: DeploymentCommands;
  /** What catalog sync recorded; absent: every plugin answers as not synced. */
  catalogSync?: CatalogSyncQueries;
  /** Served by `getPluginHealthMonitor()`. */
  health?: HealthMonitor;
  healthQueries?: HealthQueries;
  /** Served by `getPluginServiceDiscovery()`. */
  discovery?: ServiceDiscovery;
  discoveryCommands?: DiscoveryCommands;
}

/**
 * The facade of the orchestration system: the API the router, the `-node`
 * service and embedding scripts use. Names follow the original design
 * (`installPlugin(id, version, options)`, `on('systemEvent', ...)`).
 * Each method hands the call to the command or query module of its family;
 * `createOrchestrationSystem` (src/wiring) builds one.
 *
 * @public
 */
export class PluginLifecycleOrchestrationSystem {
  readonly #p: OrchestrationSystemParts;

  /** A facade over parts the wiring built; use `createOrchestrationSystem` to get a running system. */
  static create(parts: OrchestrationSystemParts) {
    return new PluginLifecycleOrchestrationSystem(parts);
  }

  private constructor(parts: OrchestrationSystemParts) {
    this.#p = parts;
  }

  /**
   * Listens to an event of the system: `<component>:<event>` with its typed
   * payload (see {@link SystemEventMap}) or `systemEvent` for all of them.
   */
  on<K extends keyof SystemEventListeners>(
    event: K,
    listener: SystemEventListeners[K],
  ): this {
    this.#p.events.on(event, listener);
    return this;
  }

  off<K extends keyof SystemEventListeners>(
    event: K,
    listener: SystemEventListeners[K],
  ): this {
    this.#p.events.off(event, listener);
    return this;
  }

  /**
   * The configuration manager: versioned configuration per plugin and
   * environment (`setPluginConfiguration`, `watchConfiguration`, ...).
   */
  getPluginConfigurationManager(): ConfigurationManager {
    return this.#p.configuration;
  }

  /**
   * The health monitor: probes per plugin (`registerPluginProbes`), health
   * per instance and probe (`getPluginHealth`).
   */
  getPluginHealthMonitor(): HealthMonitor {
    if (!this.#p.health) {
      throw new Error('The health monitor is not part of this system');
    }
    return this.#p.health;
  }

  /**
   * Service discovery: registrations, load-balanced lookups
   * (`getLoadBalancedService`), instance health for routing.
   */
  getPluginServiceDiscovery(): ServiceDiscovery {
    if (!this.#p.discovery) {
      throw new Error('Service discovery is not part of this system');
    }
    return this.#p.discovery;
  }

  // The router's discovery, health and configuration backup routes go
  // through these modules (thin: each is a handful of delegations).

  /** Service discovery's commands within a caller's tenants. */
  get discoveryCommands(): DiscoveryCommands {
    if (!this.#p.discoveryCommands) {
      throw new Error('Service discovery is not part of this system');
    }
    return this.#p.discoveryCommands;
  }

  /** A plugin's health and its probes, within a caller's tenants. */
  get healthQueries(): HealthQueries {
    if (!this.#p.healthQueries) {
      throw new Error('The health monitor is not part of this system');
    }
    return this.#p.healthQueries;
  }

  /** Export and import of configuration, within a caller's tenants. */
  get configBackupCommands(): ConfigBackupCommands {
    return this.#p.configBackup;
  }

  /** See {@link LifecycleCommands.markPluginError}. */
  markPluginError(
    pluginId: string,
    options: { reason: string; actor?: string },
  ): Promise<boolean> {
    return this.#p.lifecycle.markPluginError(pluginId, options);
  }

  /** The stored plugin, whatever its tenant (callers check the scope). */
  findPluginRecord(pluginId: string): Promise<PluginRecord | undefined> {
    return this.#p.plugins.findPluginRecord(pluginId);
  }

  /** The tenants a user with these ownership refs may see and manage. */
  scopeForUser(ownershipEntityRefs: string[]): TenantScope {
    return this.#p.tenancy.scopeForUser(ownershipEntityRefs);
  }

  installPlugin(
    pluginId: string,
    version: string,
    options: InstallPluginOptions = {},
  ): Promise<OperationAccepted> {
    return this.#p.install.installPlugin(pluginId, version, options);
  }

  /** See {@link InstallCommands.updatePlugin}. */
  updatePlugin(
    pluginId: string,
    version: string,
    options: Omit<UpdateRequest, 'version'> & {
      userId?: string;
      scope?: TenantScope;
    } = {},
  ): Promise<OperationAccepted> {
    return this.#p.install.updatePlugin(pluginId, version, options);
  }

  /** See {@link InstallCommands.rollbackUpdate}. */
  rollbackUpdate(
    pluginId: string,
    operationId: string,
    options: ActionOptions = {},
  ): Promise<OperationAccepted> {
    return this.#p.install.rollbackUpdate(pluginId, operationId, options);
  }

  startPlugin(
    pluginId: string,
    options: ActionOptions = {},
  ): Promise<OperationAccepted> {
    return this.#p.lifecycle.startPlugin(pluginId, options);
  }

  stopPlugin(
    pluginId: string,
    options: ActionOptions = {},
  ): Promise<OperationAccepted> {
    return this.#p.lifecycle.stopPlugin(pluginId, options);
  }

  restartPlugin(
    pluginId: string,
    options: ActionOptions = {},
  ): Promise<OperationAccepted> {
    return this.#p.lifecycle.restartPlugin(pluginId, options);
  }

  uninstallPlugin(
    pluginId: string,
    options: ActionOptions = {},
  ): Promise<OperationAccepted> {
    return this.#p.lifecycle.uninstallPlugin(pluginId, options);
  }

  /** See {@link LifecycleCommands.enterMaintenance}. */
  enterMaintenance(
    pluginId: string,
    options: ActionOptions = {},
  ): Promise<OperationAccepted> {
    return this.#p.lifecycle.enterMaintenance(pluginId, options);
  }

  /** See {@link LifecycleCommands.exitMaintenance}. */
  exitMaintenance(
    pluginId: string,
    options: ActionOptions = {},
  ): Promise<OperationAccepted> {
    return this.#p.lifecycle.exitMaintenance(pluginId, options);
  }

  /** See {@link LifecycleCommands.configurePlugin}. */
  configurePlugin(
    pluginId: string,
    options: ActionOptions = {},
  ): Promise<OperationAccepted> {
    return this.#p.lifecycle.configurePlugin(pluginId, options);
  }

  /** See {@link BatchCommands.submitBatch}. */
  submitBatch(
    body: unknown,
    options: { userId?: string; scope?: TenantScope } = {},
  ): Promise<BatchAccepted> {
    return this.#p.batch.submitBatch(body, options);
  }

  cancelOperation(
    operationId: string,
    options: { userId?: string; scope?: TenantScope } = {},
  ) {
    return this.#p.operations.cancelOperation(operationId, options);
  }

  /** See {@link PluginQueries.listPlugins}. */
  listPlugins(
    filter: {
      state?: LifecycleState;
      tenant?: string;
      entityRef?: string;
    } = {},
    scope: TenantScope = ALL_TENANTS,
    page: { limit?: number; after?: string } = {},
  ): Promise<PluginSummary[]> {
    return this.#p.plugins.listPlugins(filter, scope, page);
  }

  getPlugin(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<PluginDetails> {
    return this.#p.plugins.getPlugin(pluginId, scope);
  }

  /** See {@link PluginQueries.listAvailableVersions}. */
  listAvailableVersions(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<AvailableVersions> {
    return this.#p.plugins.listAvailableVersions(pluginId, scope);
  }

  /**
   * Catalog sync of a plugin: whether it follows the version its linked
   * entity declares, and what the last pass did and why (404 outside the
   * scope).
   */
  async getPluginCatalogSync(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<PluginCatalogSync> {
    if (this.#p.catalogSync) {
      return this.#p.catalogSync.get(pluginId, scope);
    }
    const plugin = await this.#p.plugins.getPlugin(pluginId, scope);
    return { pluginId: plugin.id, enabled: false };
  }

  /** See {@link PluginQueries.getHistory}. */
  getHistory(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
    page: { limit?: number; afterId?: number } = {},
  ): Promise<StateTransition[]> {
    return this.#p.plugins.getHistory(pluginId, scope, page);
  }

  /** See {@link OperationQueries.listOperations}. */
  listOperations(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
    page: { limit?: number; beforeSeq?: number } = {},
  ): Promise<QueuedOperation[]> {
    return this.#p.operations.listOperations(pluginId, scope, page);
  }

  getOperation(
    operationId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<Operation> {
    return this.#p.operations.getOperation(operationId, scope);
  }

  /** See {@link OperationQueries.waitForOperation}. */
  waitForOperation(
    operationId: string,
    options: Parameters<OperationQueries['waitForOperation']>[1] = {},
  ): Promise<Operation> {
    return this.#p.operations.waitForOperation(operationId, options);
  }

  /** A deployment within the caller's tenants (404 otherwise). */
  getDeployment(
    deploymentId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<Deployment> {
    return this.#p.deploymentCommands.getDeployment(deploymentId, scope);
  }

  /** Deployments within the caller's tenants, newest first (50 unless `filter.limit`). */
  listDeployments(
    filter: DeploymentListFilter = {},
    scope: TenantScope = ALL_TENANTS,
  ): Promise<Deployment[]> {
    return this.#p.deploymentCommands.listDeployments(filter, scope);
  }

  /** A plugin's deployments, newest first (404 for a plugin outside the scope). */
  listPluginDeployments(
    pluginId: string,
    filter: Omit<DeploymentListFilter, 'pluginId'> = {},
    scope: TenantScope = ALL_TENANTS,
  ): Promise<Deployment[]> {
    return this.#p.deploymentCommands.listPluginDeployments(
      pluginId,
      filter,
      scope,
    );
  }

  /**
   * A person's action on a deployment: `approve`, `reject`, `promote`
   * (`full`, `winner`), `pause`, `resume`, `abort`, `retry`, `rollback`,
   * recorded with `userId` and `reason`. Answers the deployment as the
   * action left it; the rollback of a succeeded deployment answers the
   * update operation that rolls it back. 400 for a bad request, 404
   * outside the scope, 409 where the deployment's phase does not allow
   * the action. Permissions are the caller's to check (the router does).
   */
  async deploymentAction(
    deploymentId: string,
    action: DeploymentAction,
    options: DeploymentActionRequest & {
      userId?: string;
      scope?: TenantScope;
    } = {},
  ): Promise<DeploymentActionResult> {
    const { userId, scope, ...request } = options;
    const outcome = await this.#p.deploymentCommands.act(
      deploymentId,
      action,
      request,
      { userId, scope },
    );
    return outcome.deployment ?? outcome.operation;
  }

  getSystemMetrics(scope: TenantScope = ALL_TENANTS): Promise<SystemMetrics> {
    return this.#p.plugins.getSystemMetrics(scope);
  }

  /** See {@link MaintenanceCommands.runConfigurationMaintenance}. */
  runConfigurationMaintenance(now = new Date()) {
    return this.#p.maintenance.runConfigurationMaintenance(now);
  }

  /** Brings recorded state in line with what runs (see `Reconciler`). */
  reconcile(): Promise<void> {
    return this.#p.maintenance.reconcile();
  }

  /** See {@link MaintenanceCommands.shutdown}. */
  shutdown(options: { graceMs?: number } = {}): Promise<void> {
    return this.#p.maintenance.shutdown(options);
  }
}
