import { ServiceRegistration } from '@internal/plugin-lifecycle-common';
import { TenantScope, inTenantScope } from '../../domain/tenancy';
import { Entry } from './discoveryEntries';
import { HealthCheckedService, ServiceListKey } from './discoveryTypes';
import { DiscoveryView } from './DiscoveryView';
import { ReservedServiceNames } from './ReservedServiceNames';

/** What {@link ServiceDiscovery.listServices} lists. */
export interface ServiceListOptions {
  scope: TenantScope;
  name?: string;
  tenant?: string;
  limit?: number;
  after?: ServiceListKey;
}

/** A page of {@link ServiceDiscovery.listServices}, with the key of the next one. */
export interface ServiceListPage {
  items: ServiceRegistration[];
  next?: ServiceListKey;
}

const keyOf = (e: Entry): ServiceListKey => [
  e.registration.serviceName,
  e.registration.tenant,
  e.id,
];

const compare = (a: ServiceListKey, b: ServiceListKey) =>
  a[0].localeCompare(b[0]) ||
  a[1].localeCompare(b[1]) ||
  a[2].localeCompare(b[2]);

/**
 * The instances in the view the caller may see, by name and tenant when
 * given, ordered by name, tenant and id, from after `after`: `limit` of
 * them (default all) and the key of the next page when there is one.
 */
export function listServices(
  view: DiscoveryView,
  options: ServiceListOptions,
): ServiceListPage {
  const after = options.after;
  const entries: Entry[] = [];
  for (const pool of view.pools()) {
    if (options.name !== undefined && pool.serviceName !== options.name)
      continue;
    if (options.tenant !== undefined && pool.tenant !== options.tenant)
      continue;
    if (!inTenantScope(options.scope, pool.tenant)) continue;
    for (const id of pool.ids) {
      const entry = view.entry(id)!;
      if (after && compare(keyOf(entry), after) <= 0) continue;
      entries.push(entry);
    }
  }
  entries.sort((a, b) => compare(keyOf(a), keyOf(b)));
  const limit = options.limit ?? entries.length;
  const page = entries.slice(0, limit);
  const items = page.map(e => view.registrationOf(e));
  return entries.length > limit
    ? { items, next: keyOf(page[page.length - 1]) }
    : { items };
}

/**
 * The registered services in the view that name a health check, in every
 * tenant, without building the API's answer for every other service.
 */
export function listHealthChecked(
  view: DiscoveryView,
  reservedNames: ReservedServiceNames,
): HealthCheckedService[] {
  const found = [];
  const sources = view.sources;
  const reserved = (name: string) =>
    reservedNames.isReserved(name, id => sources.plugins.has(id));
  for (const service of sources.registered.values()) {
    // Out of every pool (a reserved name): nothing to probe for.
    if (!service.healthCheck || reserved(service.serviceName)) continue;
    found.push({
      source: 'registered' as const,
      healthCheck: service.healthCheck,
      serviceId: service.serviceId,
      serviceName: service.serviceName,
      host: service.host,
      port: service.port,
      ...(service.pluginId ? { pluginId: service.pluginId } : {}),
    });
  }
  return found;
}
