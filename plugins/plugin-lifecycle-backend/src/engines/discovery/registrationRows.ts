import { InputError, NotAllowedError } from '@backstage/errors';
import { registerServiceRequestSchema } from '@internal/plugin-lifecycle-common';
import { z } from 'zod';
import { ServiceStore } from '../../database/ServiceStore';
import { TenantScope, inTenantScope } from '../../domain/tenancy';
import { ComponentEvent, PayloadOf } from '../../events/eventMap';

/** A registration request as the API schema parsed it. */
export type RegistrationRequest = z.infer<typeof registerServiceRequestSchema>;

/** The row the store registers. */
export type RegistrationRow = Parameters<ServiceStore['register']>[0];

/** How discovery's parts announce what they did (`discovery:<event>`). */
export type DiscoveryPublish = <E extends ComponentEvent<'serviceDiscovery'>>(
  event: E,
  payload: PayloadOf<'serviceDiscovery', E>,
) => void;

/**
 * The rows to store for registration requests: each in the tenant it names,
 * or its plugin's, or the caller's only one, or the default tenant; a
 * tenant the caller may not use is a 403, another tenant's plugin a 400
 * that names no more than the caller may know.
 */
export function registrationRows(
  requests: Array<RegistrationRequest & { serviceId: string }>,
  options: {
    scope: TenantScope;
    defaultTenant: string;
    /** Tenant of each plugin the requests name (undefined: not installed). */
    pluginTenants: ReadonlyMap<string, string | undefined>;
  },
): RegistrationRow[] {
  const { scope } = options;
  return requests.map(request => {
    const pluginTenant = request.pluginId
      ? options.pluginTenants.get(request.pluginId)
      : undefined;
    const tenant =
      request.tenant ??
      pluginTenant ??
      (scope.all !== true && scope.tenants.length === 1
        ? scope.tenants[0]
        : options.defaultTenant);
    if (pluginTenant !== undefined && tenant !== pluginTenant) {
      // Another tenant's plugin: say no more than that it is not in this one.
      throw new InputError(
        inTenantScope(scope, pluginTenant)
          ? `Invalid service registration: plugin '${request.pluginId}' belongs to tenant '${pluginTenant}', not '${tenant}'`
          : `Invalid service registration: plugin '${request.pluginId}' is not in tenant '${tenant}'`,
      );
    }
    if (!inTenantScope(scope, tenant)) {
      throw new NotAllowedError(
        `You may not register services in tenant '${tenant}'`,
      );
    }
    return {
      serviceId: request.serviceId,
      tenant,
      pluginId: request.pluginId,
      serviceName: request.serviceName,
      serviceType: request.serviceType,
      version: request.version,
      host: request.host,
      port: request.port,
      protocol: request.protocol ?? request.serviceType,
      weight: request.loadBalancing?.weight ?? 100,
      maxConnections: request.loadBalancing?.maxConnections,
      strategy: request.loadBalancing?.strategy,
      tags: request.tags ?? [],
      metadata: request.metadata ?? {},
      healthCheck: request.healthCheck,
      ttlMs: request.ttlMs,
      deregisterAfterMs: request.deregisterAfterMs,
    };
  });
}
