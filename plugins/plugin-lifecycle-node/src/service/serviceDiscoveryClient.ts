import {
  PluginLifecycleClient,
  RegisterServiceRequest,
  ResolvedService,
  ServiceLoadBalancingStrategy,
  ServiceRegistration,
} from '@internal/plugin-lifecycle-common';

/**
 * Service discovery, as `getPluginServiceDiscovery()` answers it.
 *
 * @public
 */
export interface PluginServiceDiscoveryClient {
  registerService(
    registration: RegisterServiceRequest,
  ): Promise<ServiceRegistration>;
  deregisterService(serviceId: string): Promise<void>;
  heartbeat(serviceId: string): Promise<ServiceRegistration>;
  listServices(filter?: {
    name?: string;
    tenant?: string;
  }): Promise<ServiceRegistration[]>;
  /**
   * One instance as the load balancer picks it, or undefined when the
   * service has no instance that may take traffic. `clientInfo.ip` is what
   * ip-hash hashes (the backend sees this plugin's address, not the
   * client's).
   */
  getLoadBalancedService(
    serviceName: string,
    clientInfo?: { ip?: string; tenant?: string },
    strategy?: ServiceLoadBalancingStrategy | string,
  ): Promise<ResolvedService | undefined>;
}

/** Service discovery over the HTTP API; `client` is made per call. */
export function createServiceDiscoveryClient(
  client: () => PluginLifecycleClient,
): PluginServiceDiscoveryClient {
  return {
    registerService: registration => client().registerService(registration),
    deregisterService: serviceId => client().deregisterService(serviceId),
    heartbeat: serviceId => client().heartbeat(serviceId),
    listServices: filter => client().listServices(filter),
    getLoadBalancedService: async (serviceName, clientInfo, strategy) => {
      try {
        return await client().resolveService(serviceName, {
          strategy: strategy as ServiceLoadBalancingStrategy | undefined,
          tenant: clientInfo?.tenant,
          key: clientInfo?.ip,
        });
      } catch (error) {
        // No instance may take traffic (503), or none is registered (404).
        // (A ResponseError of @backstage/errors, read by its shape.)
        const status = (error as { response?: { status?: number } }).response
          ?.status;
        if (status === 404 || status === 503) {
          return undefined;
        }
        throw error;
      }
    },
  };
}
