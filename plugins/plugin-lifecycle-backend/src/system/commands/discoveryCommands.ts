import {
  ResolvedService,
  ServiceRegistration,
} from '@internal/plugin-lifecycle-common';
import type { TenantScope } from '../../domain/tenancy';
import type {
  DiscoveryCallOptions,
  ServiceDiscovery,
  ServiceListKey,
} from '../../engines/discovery/ServiceDiscovery';

/** A caller's address and sticky key, for load balancing. */
export type ClientInfo = Parameters<
  ServiceDiscovery['getLoadBalancedService']
>[1];

/** Options of {@link DiscoveryCommands.create}. */
export interface DiscoveryCommandsOptions {
  discovery: ServiceDiscovery;
}

/**
 * Service discovery as the facade offers it: registrations, heartbeats,
 * pages of services and load-balanced lookups within the caller's tenants.
 * Discovery validates its own input (a 400 names the field).
 */
export class DiscoveryCommands {
  readonly #discovery: ServiceDiscovery;

  static create(options: DiscoveryCommandsOptions): DiscoveryCommands {
    return new DiscoveryCommands(options);
  }

  private constructor(options: DiscoveryCommandsOptions) {
    this.#discovery = options.discovery;
  }

  /** A page of the services the caller may see, with the key of the next. */
  listServices(
    options: {
      scope: TenantScope;
      name?: string;
      tenant?: string;
      limit: number;
      after?: ServiceListKey;
    },
    paged: true,
  ): Promise<{ items: ServiceRegistration[]; next?: ServiceListKey }> {
    return this.#discovery.listServices(options, paged);
  }

  registerService(
    input: unknown,
    options: { scope: TenantScope },
  ): Promise<ServiceRegistration> {
    return this.#discovery.registerService(input, options);
  }

  registerServices(
    inputs: unknown,
    options: { scope: TenantScope },
  ): Promise<ServiceRegistration[]> {
    return this.#discovery.registerServices(inputs, options);
  }

  updateService(
    serviceId: string,
    input: unknown,
    options: { scope: TenantScope },
  ): Promise<ServiceRegistration> {
    return this.#discovery.updateService(serviceId, input, options);
  }

  deregisterService(
    serviceId: string,
    options: { scope: TenantScope },
  ): Promise<void> {
    return this.#discovery.deregisterService(serviceId, options);
  }

  heartbeat(
    serviceId: string,
    options: { scope: TenantScope },
  ): Promise<{ serviceId: string; expiresAt?: string }> {
    return this.#discovery.heartbeat(serviceId, options);
  }

  heartbeats(
    serviceIds: unknown,
    options: { scope: TenantScope },
  ): Promise<{ renewed: number; unknown: string[] }> {
    return this.#discovery.heartbeats(serviceIds, options);
  }

  /**
   * The instance the load balancer picks for one request; with `headers`,
   * a traffic split's header or cookie match applies.
   */
  getLoadBalancedService(
    serviceName: string,
    clientInfo: ClientInfo,
    strategy: string | undefined,
    options: DiscoveryCallOptions & {
      headers?: Readonly<Record<string, string | string[] | undefined>>;
    },
  ): Promise<ResolvedService> {
    return this.#discovery.getLoadBalancedService(
      serviceName,
      clientInfo,
      strategy,
      options,
    );
  }
}
