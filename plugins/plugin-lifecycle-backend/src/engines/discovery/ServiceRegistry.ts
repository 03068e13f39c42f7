import { randomUUID } from 'node:crypto';
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import {
  ServiceRegistration,
  registerServiceRequestSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { z } from 'zod';
import { ServiceStore } from '../../database/ServiceStore';
import { TenantScope, inTenantScope } from '../../domain/tenancy';
import { ExecProbePolicy } from '../health/execProbePolicy';
import { MAX_BULK } from './discoveryTypes';
import { DiscoveryView } from './DiscoveryView';
import {
  DiscoveryPublish,
  RegistrationRequest,
  registrationRows,
} from './registrationRows';
import { checkRegistrations } from './registrationGuard';
import { ReservedServiceNames } from './ReservedServiceNames';
import { TargetPolicy } from './TargetPolicy';
import { ViewSync } from './ViewSync';

const bulkRegistrationSchema = z
  .array(registerServiceRequestSchema)
  .min(1, 'at least one service')
  .max(MAX_BULK, `at most ${MAX_BULK} services at once`);

const bulkHeartbeatSchema = z
  .array(z.string().min(1).max(255))
  .min(1, 'at least one service id')
  .max(MAX_BULK, `at most ${MAX_BULK} service ids at once`);

/**
 * Registered services coming and going: registration one by one or in
 * bulk (validated, checked against the exec probe policy, reserved names
 * and allowed targets before anything is stored), deregistration and
 * heartbeats. Each write goes to the store, then into this replica's view
 * at once (other replicas follow the change log).
 */
export class ServiceRegistry {
  readonly #store: ServiceStore;
  readonly #view: DiscoveryView;
  readonly #sync: ViewSync;
  readonly #execProbes: ExecProbePolicy;
  readonly #reservedNames: ReservedServiceNames;
  readonly #targets: TargetPolicy | undefined;
  readonly #defaultTenant: string;
  readonly #now: () => number;
  readonly #publish: DiscoveryPublish;

  constructor(options: {
    store: ServiceStore;
    view: DiscoveryView;
    sync: ViewSync;
    execProbes: ExecProbePolicy;
    reservedNames: ReservedServiceNames;
    targets: TargetPolicy | undefined;
    defaultTenant: string;
    clock: () => number;
    publish: DiscoveryPublish;
  }) {
    this.#store = options.store;
    this.#view = options.view;
    this.#sync = options.sync;
    this.#execProbes = options.execProbes;
    this.#reservedNames = options.reservedNames;
    this.#targets = options.targets;
    this.#defaultTenant = options.defaultTenant;
    this.#now = options.clock;
    this.#publish = options.publish;
  }

  /** One registration (see {@link ServiceDiscovery.registerService}). */
  async registerOne(
    input: unknown,
    scope: TenantScope,
  ): Promise<ServiceRegistration> {
    const parsed = registerServiceRequestSchema.safeParse(input ?? {});
    if (!parsed.success) {
      throw new InputError(
        `Invalid service registration: ${validationMessage(parsed.error)}`,
      );
    }
    const [registration] = await this.#register([parsed.data], scope);
    return registration;
  }

  /** Many at once, all or none (see {@link ServiceDiscovery.registerServices}). */
  async registerMany(
    inputs: unknown,
    scope: TenantScope,
  ): Promise<ServiceRegistration[]> {
    const parsed = bulkRegistrationSchema.safeParse(inputs);
    if (!parsed.success) {
      throw new InputError(
        `Invalid service registrations: ${validationMessage(parsed.error)}`,
      );
    }
    const requests = parsed.data;
    const seen = new Set<string>();
    requests.forEach((request, index) => {
      if (request.serviceId === undefined) return;
      if (seen.has(request.serviceId)) {
        throw new InputError(
          `Invalid service registrations: ${index}.serviceId: '${request.serviceId}' appears twice`,
        );
      }
      seen.add(request.serviceId);
    });
    return this.#register(requests, scope);
  }

  async #register(
    requests: RegistrationRequest[],
    scope: TenantScope,
  ): Promise<ServiceRegistration[]> {
    // A health check runs on this backend's host: an exec one only with a
    // command the operator allowed, checked before anything is stored.
    for (const request of requests) {
      this.#execProbes.assertAllowed(
        request.healthCheck ? [request.healthCheck] : [],
        { kind: 'service', serviceName: request.serviceName },
      );
    }
    // Neither a managed plugin's name (hijack) nor a target outside
    // allowedTargets (SSRF), before anything is stored.
    await checkRegistrations(requests, {
      reservedNames: this.#reservedNames,
      managedPlugins: names => this.#managedPlugins(names),
      targets: this.#targets,
    });
    const inputs = requests.map(r => ({
      ...r,
      serviceId: r.serviceId ?? randomUUID(),
    }));
    const ids = inputs.map(r => r.serviceId);
    const taken = ids.filter(id => this.#view.sources.running.has(id));
    if (taken.length === 0) {
      taken.push(...(await this.#store.instanceIds(ids)));
    }
    if (taken.length > 0) {
      throw new ConflictError(
        `'${taken[0]}' is the id of a plugin instance; register the service under another id`,
      );
    }
    const pluginTenants = new Map<string, string | undefined>();
    for (const { pluginId } of inputs) {
      if (pluginId && !pluginTenants.has(pluginId)) {
        pluginTenants.set(pluginId, await this.#store.pluginTenant(pluginId));
      }
    }
    const stored = registrationRows(inputs, {
      scope,
      defaultTenant: this.#defaultTenant,
      pluginTenants,
    });
    const now = new Date(this.#now());
    const results =
      stored.length === 1
        ? [await this.#store.register(stored[0], now)]
        : await this.#store.registerMany(stored, now);
    const dirty = new Set<string>();
    for (const { service } of results) {
      for (const key of this.#view.sources.applyService(service))
        dirty.add(key);
    }
    this.#view.rebuild(dirty);
    for (const { service } of results) {
      this.#publish('serviceRegistered', {
        serviceId: service.serviceId,
        serviceName: service.serviceName,
        tenant: service.tenant,
      });
    }
    return results.map(({ service }) =>
      this.#view.registrationOf(this.#view.entry(service.serviceId)!),
    );
  }

  /** Removes a registered service; a plugin instance goes with its plugin. */
  async deregister(serviceId: string, scope: TenantScope): Promise<void> {
    await this.#registeredInScope(serviceId, scope);
    const removed = await this.#store.deregister(
      serviceId,
      new Date(this.#now()),
    );
    if (!removed) throw new NotFoundError(`No service '${serviceId}'`);
    this.#view.rebuild(this.#sync.forget(serviceId, removed.revision));
    this.#publish('serviceDeregistered', {
      serviceId,
      serviceName: removed.serviceName,
      tenant: removed.tenant,
    });
  }

  /** Records a heartbeat; an expired service takes traffic again. */
  async heartbeat(
    serviceId: string,
    scope: TenantScope,
  ): Promise<{ serviceId: string; expiresAt?: string }> {
    await this.#registeredInScope(serviceId, scope);
    await this.#assertNotReserved([serviceId]);
    const result = await this.#store.heartbeat(
      serviceId,
      new Date(this.#now()),
    );
    if (!result) throw new NotFoundError(`No service '${serviceId}'`);
    if (result.revived) {
      this.#view.rebuild(this.#view.sources.applyService(result.service));
    }
    return {
      serviceId,
      ...(result.service.expiresAt
        ? { expiresAt: result.service.expiresAt }
        : {}),
    };
  }

  /** Heartbeats of many services (see {@link ServiceDiscovery.heartbeats}). */
  async heartbeats(
    serviceIds: unknown,
    scope: TenantScope,
  ): Promise<{ renewed: number; unknown: string[] }> {
    const parsed = bulkHeartbeatSchema.safeParse(serviceIds);
    if (!parsed.success) {
      throw new InputError(
        `Invalid heartbeats: ${validationMessage(parsed.error)}`,
      );
    }
    const sources = this.#view.sources;
    const visible: string[] = [];
    const unknown: string[] = [];
    for (const id of new Set(parsed.data)) {
      const tenant = sources.registered.get(id)?.tenant;
      // Not in this replica's view yet (just registered elsewhere): the
      // store decides below; its tenant is checked there.
      if (tenant === undefined || inTenantScope(scope, tenant)) {
        visible.push(id);
      } else unknown.push(id);
    }
    await this.#assertNotReserved(visible);
    const result = await this.#store.heartbeatMany(
      visible,
      new Date(this.#now()),
    );
    const dirty = new Set<string>();
    let renewed = 0;
    for (const { service, revived } of result.renewed) {
      if (!inTenantScope(scope, service.tenant)) {
        unknown.push(service.serviceId); // renewed, but not the caller's to know
        continue;
      }
      renewed++;
      if (revived) {
        for (const key of sources.applyService(service)) dirty.add(key);
      }
    }
    this.#view.rebuild(dirty);
    return { renewed, unknown: [...unknown, ...result.unknown].sort() };
  }

  /**
   * Which of `names` are installed plugins' ids: what this replica knows,
   * and the database for the others (installed on another replica since
   * its last look).
   */
  async #managedPlugins(names: string[]): Promise<ReadonlySet<string>> {
    const plugins = this.#view.sources.plugins;
    const known = names.filter(name => plugins.has(name));
    const unknown = names.filter(name => !plugins.has(name));
    const found =
      unknown.length > 0
        ? await this.#store.existingPluginIds(unknown)
        : new Set<string>();
    for (const name of known) found.add(name);
    return found;
  }

  /**
   * A registration under a reserved name (stored before the rule, or before
   * its plugin was installed) may not be kept alive: 409 naming the rule.
   * From the view (a plugin installed elsewhere shows within a poll): a
   * heartbeat costs no query per service.
   */
  async #assertNotReserved(serviceIds: string[]) {
    const sources = this.#view.sources;
    const names = new Set<string>();
    for (const serviceId of serviceIds) {
      const name =
        sources.registered.get(serviceId)?.serviceName ??
        (serviceIds.length === 1
          ? (await this.#store.get(serviceId))?.serviceName
          : undefined);
      if (name !== undefined) names.add(name);
    }
    for (const name of names) {
      this.#reservedNames.assertFree(
        name,
        id => sources.plugins.has(id),
        'a heartbeat',
      );
    }
  }

  /** Throws NotFound unless the id is a registered service the caller may see. */
  async #registeredInScope(serviceId: string, scope: TenantScope) {
    const tenant =
      this.#view.sources.registered.get(serviceId)?.tenant ??
      (await this.#store.get(serviceId))?.tenant;
    if (tenant === undefined || !inTenantScope(scope, tenant)) {
      if (this.#view.entry(serviceId)?.source === 'instance') {
        throw new InputError(
          `'${serviceId}' is a plugin instance: it is registered while it runs; stop or scale the plugin instead`,
        );
      }
      throw new NotFoundError(`No service '${serviceId}'`);
    }
  }
}
