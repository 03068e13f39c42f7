import {
  RegisterServiceRequest,
  UpdateServiceRequest,
  ResolvedService,
  ServiceLoadBalancingStrategy,
  ServiceRegistration,
} from '../api/discovery';
import { pluginLifecycleRoutes as routes } from '../routes';
import { RequestCore } from './requestCore';

/**
 * The requests of service discovery: registrations, heartbeats, listing,
 * resolving through the load balancer, and the proxy's counts. Documented
 * where callers see them, on {@link PluginLifecycleClient}.
 */
export class DiscoveryCalls {
  readonly #core: RequestCore;

  constructor(core: RequestCore) {
    this.#core = core;
  }

  registerService(
    registration: RegisterServiceRequest,
  ): Promise<ServiceRegistration> {
    return this.#core.call(routes.registerService, { body: registration });
  }

  async deregisterService(serviceId: string): Promise<void> {
    await this.#core.call(routes.deregisterService, { params: { serviceId } });
  }

  async registerServices(
    registrations: RegisterServiceRequest[],
  ): Promise<ServiceRegistration[]> {
    const body = await this.#core.call(routes.registerServices, {
      body: { services: registrations },
    });
    return body.items;
  }

  heartbeat(serviceId: string): Promise<ServiceRegistration> {
    return this.#core.call(routes.heartbeat, { params: { serviceId } });
  }

  heartbeats(
    serviceIds: string[],
  ): Promise<{ renewed: number; unknown: string[] }> {
    return this.#core.call(routes.heartbeats, { body: { serviceIds } });
  }

  updateService(
    serviceId: string,
    patch: UpdateServiceRequest,
  ): Promise<ServiceRegistration> {
    return this.#core.call(routes.updateService, {
      params: { serviceId },
      body: patch,
    });
  }

  getServiceMetrics(): Promise<{ instances: unknown[]; versions: unknown[] }> {
    return this.#core.call(routes.getServiceMetrics, {});
  }

  listServices(filter?: {
    name?: string;
    tenant?: string;
  }): Promise<ServiceRegistration[]> {
    return this.#core.allPages(cursor =>
      this.#core.call(routes.listServices, { query: { ...filter, cursor } }),
    );
  }

  resolveService(
    serviceName: string,
    options?: {
      strategy?: ServiceLoadBalancingStrategy;
      tenant?: string;
      key?: string;
    },
  ): Promise<ResolvedService> {
    return this.#core.call(routes.resolveService, {
      params: { serviceName },
      query: options,
    });
  }
}
