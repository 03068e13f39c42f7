import { LoggerService } from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  ServiceRegistration,
  updateServiceRequestSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { ServiceStore } from '../../database/ServiceStore';
import { TenantScope, inTenantScope } from '../../domain/tenancy';
import { DiscoveryView } from './DiscoveryView';
import { DiscoveryPublish } from './registrationRows';
import { ViewSync } from './ViewSync';

/**
 * Changes to instances already known: weights and limits from the API,
 * readiness and health scores from the health monitor (registered services
 * in their row, plugin instances as overrides), and TTL expiry with the
 * log's pruning. Written through to the store, then into the view.
 */
export class InstanceUpdates {
  readonly #store: ServiceStore;
  readonly #view: DiscoveryView;
  readonly #sync: ViewSync;
  readonly #now: () => number;
  readonly #publish: DiscoveryPublish;
  readonly #changeRetentionMs: number;
  #lastPrune = 0;
  #expireTimer?: NodeJS.Timeout;
  #expiring?: Promise<unknown>;
  #expiringStopped = true;

  constructor(options: {
    store: ServiceStore;
    view: DiscoveryView;
    sync: ViewSync;
    clock: () => number;
    publish: DiscoveryPublish;
    changeRetentionMs: number;
  }) {
    this.#store = options.store;
    this.#view = options.view;
    this.#sync = options.sync;
    this.#now = options.clock;
    this.#publish = options.publish;
    this.#changeRetentionMs = options.changeRetentionMs;
  }

  /** See {@link ServiceDiscovery.updateService}. */
  async update(
    serviceId: string,
    input: unknown,
    scope: TenantScope,
  ): Promise<ServiceRegistration> {
    const parsed = updateServiceRequestSchema.safeParse(input ?? {});
    if (!parsed.success) {
      throw new InputError(
        `Invalid service update: ${validationMessage(parsed.error)}`,
      );
    }
    const patch = parsed.data;
    const target = await this.#findInScope(serviceId, scope);
    const now = new Date(this.#now());
    if (target === 'registered') {
      const service = await this.#store.update(serviceId, patch, now);
      if (!service) throw new NotFoundError(`No service '${serviceId}'`);
      this.#view.rebuild(this.#view.sources.applyService(service));
    } else {
      this.#view.rebuild(
        this.#view.sources.applyOverride(
          await this.#store.setInstanceOverride(serviceId, patch, now),
        ),
      );
    }
    const entry = this.#view.entry(serviceId);
    if (!entry) throw new NotFoundError(`No service '${serviceId}'`);
    return this.#view.registrationOf(entry);
  }

  /** See {@link ServiceDiscovery.setInstanceHealth}. */
  async setHealth(
    serviceId: string,
    health: { ready?: boolean; healthScore?: number },
  ): Promise<void> {
    const { ready, healthScore } = health;
    if (ready !== undefined && typeof ready !== 'boolean') {
      throw new InputError(`ready must be true or false, got ${ready}`);
    }
    if (
      healthScore !== undefined &&
      (typeof healthScore !== 'number' ||
        !(healthScore >= 0 && healthScore <= 1))
    ) {
      throw new InputError(
        `healthScore must be a number from 0 to 1, got ${healthScore}`,
      );
    }
    const current = this.#view.entry(serviceId)?.registration;
    if (
      current &&
      (ready === undefined || ready === current.ready) &&
      (healthScore === undefined || healthScore === current.healthScore)
    ) {
      return;
    }
    const now = new Date(this.#now());
    const sources = this.#view.sources;
    if (
      sources.registered.has(serviceId) ||
      (!current && (await this.#store.get(serviceId)))
    ) {
      const service = await this.#store.update(
        serviceId,
        { ready, healthScore },
        now,
      );
      if (!service) throw new NotFoundError(`No service '${serviceId}'`);
      this.#view.rebuild(sources.applyService(service));
    } else if (current || (await this.#store.isInstanceId(serviceId))) {
      this.#view.rebuild(
        sources.applyOverride(
          await this.#store.setInstanceOverride(
            serviceId,
            { ready, healthScore },
            now,
          ),
        ),
      );
    } else {
      throw new NotFoundError(`No service or instance '${serviceId}'`);
    }
  }

  /** See {@link ServiceDiscovery.expire}. */
  async expire(): Promise<{ expired: string[]; deregistered: string[] }> {
    const now = this.#now();
    const result = await this.#store.expire(new Date(now));
    if (result.expired.length || result.deregistered.length) {
      await this.#sync.pollNow();
      for (const serviceId of result.expired) {
        this.#publish('serviceExpired', { serviceId });
      }
      for (const serviceId of result.deregistered) {
        this.#publish('serviceDeregistered', { serviceId, reason: 'ttl' });
      }
    }
    if (now - this.#lastPrune >= 60_000) {
      this.#lastPrune = now;
      await this.#store.pruneChanges(new Date(now - this.#changeRetentionMs));
      await this.#store.pruneInstanceOverrides();
    }
    return result;
  }

  /** Runs {@link InstanceUpdates.expire} every `intervalMs` until stopped; every replica may. */
  expireEvery(intervalMs: number, logger: LoggerService): void {
    this.#expiringStopped = false;
    const schedule = () => {
      if (this.#expiringStopped) return;
      this.#expireTimer = setTimeout(() => {
        this.#expiring = this.expire()
          .catch(error => logger.warn(`expiring services failed: ${error}`))
          .finally(() => {
            this.#expiring = undefined;
            schedule();
          });
      }, intervalMs);
      this.#expireTimer.unref();
    };
    schedule();
  }

  /** Stops the timer; waits for a run under way. */
  async stopExpiring(): Promise<void> {
    this.#expiringStopped = true;
    clearTimeout(this.#expireTimer);
    await this.#expiring;
  }

  /** Whether the id is a registered service or a running plugin instance the caller may see. */
  async #findInScope(
    serviceId: string,
    scope: TenantScope,
  ): Promise<'registered' | 'instance'> {
    const sources = this.#view.sources;
    const service =
      sources.registered.get(serviceId) ?? (await this.#store.get(serviceId));
    if (service) {
      if (inTenantScope(scope, service.tenant)) return 'registered';
      throw new NotFoundError(`No service '${serviceId}'`);
    }
    let instance = sources.running.get(serviceId);
    if (!instance) {
      await this.#sync.pollNow();
      instance = sources.running.get(serviceId);
    }
    if (instance && inTenantScope(scope, instance.tenant)) return 'instance';
    throw new NotFoundError(`No service '${serviceId}'`);
  }
}
