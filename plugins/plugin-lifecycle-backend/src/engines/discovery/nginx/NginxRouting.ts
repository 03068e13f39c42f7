import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ResolvedService } from '@internal/plugin-lifecycle-common';
import { TenantScope } from '../../../domain/tenancy';
import { RoutingInstance, RoutingPool } from '../ServiceDiscovery';
import { NginxPool, isSafeNginxValue, renderNginxConfig } from './nginxConfig';
import { NginxDataPlaneOptions } from './nginxDataPlaneOptions';

export type Resolved = Omit<ResolvedService, 'strategy' | 'panic'>;

function addressOf(ip: string, port: number) {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * Discovery's routing table as nginx's configuration: each pool gets an
 * index for its life (it names the upstream and goes into the access log),
 * each instance's host is resolved to the address nginx logs, and the
 * addresses are remembered so that log lines find their instance.
 */
export class NginxRouting {
  readonly #options: NginxDataPlaneOptions;
  readonly #logger: LoggerService;
  readonly #scope: TenantScope;
  readonly #host: string;
  readonly #port: number;
  readonly #directory: string;
  /** Pool key → index, for the pool's life in this data plane. */
  readonly #indexes = new Map<string, number>();
  /** Pool index → upstream address → instance, for reading the log. */
  #addresses = new Map<number, Map<string, Resolved>>();
  #nextIndex = 0;
  readonly #warned = new Set<string>();

  constructor(options: {
    options: NginxDataPlaneOptions;
    scope: TenantScope;
    host: string;
    port: number;
    directory: string;
  }) {
    this.#options = options.options;
    this.#logger = options.options.logger;
    this.#scope = options.scope;
    this.#host = options.host;
    this.#port = options.port;
    this.#directory = options.directory;
  }

  /** The instances at each upstream address of a pool, by the pool's index. */
  addresses(pool: number): ReadonlyMap<string, Resolved> | undefined {
    return this.#addresses.get(pool);
  }

  /** The configuration for a generation; routing is read once. */
  async render(): Promise<(generation: number) => string> {
    // nginx ejects failing instances itself (max_fails), at once and
    // without a reload: a reload makes the old workers close their idle
    // client connections, and a client that sends on one just then gets
    // an error. So ejections change nothing here; writes (instances,
    // readiness, weights, limits) do.
    const table = this.#options.discovery.routingTable(this.#scope);
    const pools: NginxPool[] = [];
    const addresses = new Map<number, Map<string, Resolved>>();
    for (const pool of table.pools) {
      if (!isSafeNginxValue(pool.tenant)) {
        this.#warnOnce(
          `tenant:${pool.tenant}`,
          `Service '${pool.serviceName}' of tenant '${pool.tenant}' is not on the nginx data plane: the tenant name has characters nginx's configuration cannot hold`,
        );
        continue;
      }
      const index = this.#indexOf(pool);
      const rendered = await this.#poolOf(pool, index);
      pools.push(rendered.pool);
      addresses.set(index, rendered.addresses);
    }
    // Lines of requests served before this reload still name old addresses.
    for (const [index, known] of this.#addresses) {
      const now = addresses.get(index);
      if (!now) continue;
      for (const [address, resolved] of known) {
        if (!now.has(address)) now.set(address, resolved);
      }
    }
    this.#addresses = addresses;
    const o = this.#options;
    return generation =>
      renderNginxConfig({
        generation,
        host: this.#host,
        port: this.#port,
        directory: this.#directory,
        workers: o.workers ?? 1,
        token: o.token,
        maxRetries: o.maxRetries ?? 2,
        connectTimeoutMs: o.connectTimeoutMs ?? 5_000,
        readTimeoutMs: o.readTimeoutMs ?? 60_000,
        maxFails: o.maxFails ?? 5,
        failTimeoutMs: o.failTimeoutMs ?? 30_000,
        keepAlive: 128,
        keepAliveTimeoutMs: o.upstreamKeepAliveTimeoutMs ?? 4_000,
        logFlushMs: o.logFlushMs ?? 250,
        pools,
        defaultTenant: o.defaultTenant,
      });
  }

  #indexOf(pool: RoutingPool): number {
    const key = `${pool.tenant}\u0000${pool.serviceName}`;
    let index = this.#indexes.get(key);
    if (index === undefined) {
      index = this.#nextIndex++;
      this.#indexes.set(key, index);
    }
    return index;
  }

  async #poolOf(
    pool: RoutingPool,
    index: number,
  ): Promise<{ pool: NginxPool; addresses: Map<string, Resolved> }> {
    const addresses = new Map<string, Resolved>();
    const httpInstances = pool.instances.filter(
      i => i.resolved.protocol === 'http' || i.resolved.protocol === 'https',
    );
    const protocol = httpInstances.some(i => i.resolved.protocol === 'http')
      ? 'http'
      : 'https';
    const chosen = httpInstances.filter(i => i.resolved.protocol === protocol);
    const servers: NginxPool['servers'] = [];
    const serverOf = new Map<string, NginxPool['servers'][number]>();
    const resolve = async (instance: RoutingInstance) => {
      const { host, port, serviceId } = instance.resolved;
      if (serverOf.has(serviceId)) return serverOf.get(serviceId);
      let ip = host.replace(/^\[|\]$/g, '');
      if (!net.isIP(ip)) {
        try {
          ip = (await lookup(host)).address;
        } catch (error) {
          this.#warnOnce(
            `host:${host}`,
            `Instance '${serviceId}' of '${pool.serviceName}' is not on the nginx data plane: ${host} does not resolve (${error})`,
          );
          return undefined;
        }
      }
      const address = addressOf(ip, port);
      if (addresses.has(address)) return undefined;
      addresses.set(address, instance.resolved);
      const server = {
        address,
        weight:
          pool.strategy === 'health-weighted'
            ? instance.weight * instance.healthScore
            : instance.weight,
        ...(instance.maxConnections !== undefined
          ? { maxConnections: instance.maxConnections }
          : {}),
      };
      serverOf.set(serviceId, server);
      return server;
    };
    for (const instance of chosen) {
      const server = await resolve(instance);
      if (server) servers.push(server);
    }
    // The match's subset may have weight 0: its instances are not in
    // `instances` (which take the weighted traffic), only in its subset.
    const matchSubset = pool.match
      ? pool.subsets?.find(s => s.key === pool.match!.subset)
      : undefined;
    const matchServers: NginxPool['servers'] = [];
    for (const instance of matchSubset?.instances ?? []) {
      if (instance.resolved.protocol !== protocol) continue;
      const server = await resolve(instance);
      if (server) matchServers.push(server);
    }
    // Version subsets: rendered as a split only when two or more of weight
    // above 0 have a server; otherwise `servers` is that one subset's.
    const subsets = (pool.subsets ?? [])
      .filter(s => s.weight > 0)
      .map(s => ({
        key: s.key,
        weight: s.weight,
        servers: s.instances.flatMap(
          i => serverOf.get(i.resolved.serviceId) ?? [],
        ),
      }))
      .filter(s => s.servers.length > 0);
    const match =
      pool.match && matchServers.length > 0
        ? {
            subset: pool.match.subset,
            ...(pool.match.header ? { header: pool.match.header } : {}),
            ...(pool.match.cookie ? { cookie: pool.match.cookie } : {}),
            servers: matchServers,
          }
        : undefined;
    const hosts = new Set(chosen.map(i => i.resolved.host));
    const ports = new Set(chosen.map(i => i.resolved.port));
    let hostHeader = pool.serviceName;
    if (hosts.size === 1) {
      const [host] = hosts;
      hostHeader = ports.size === 1 ? `${host}:${[...ports][0]}` : host;
    }
    if (!isSafeNginxValue(hostHeader)) hostHeader = pool.serviceName;
    let unavailable = pool.unavailable;
    if (servers.length === 0 && !unavailable) {
      unavailable =
        pool.instances.length > httpInstances.length
          ? `Service '${pool.serviceName}' speaks ${pool.instances[0].resolved.protocol}; the proxy forwards HTTP only: resolve it and connect directly`
          : `Service '${pool.serviceName}' is unavailable: no instance address resolves`;
    }
    return {
      pool: {
        index,
        tenant: pool.tenant,
        serviceName: pool.serviceName,
        strategy: pool.strategy,
        protocol,
        hostHeader,
        // Only instances a runtime started: a registration's pluginId is the registrant's word.
        forwardAuthorization:
          chosen.length > 0 &&
          chosen.every(
            i =>
              i.resolved.source === 'instance' &&
              this.#options.discovery.forwardsAuthorization(
                i.resolved.serviceId,
              ),
          ),
        passCookies: new Set(this.#options.passCookies ?? []).has(
          pool.serviceName,
        ),
        servers,
        ...(subsets.length > 1 ? { subsets } : {}),
        ...(match && servers.length > 0 ? { match } : {}),
        ...(servers.length === 0 ? { unavailable } : {}),
      },
      addresses,
    };
  }

  #warnOnce(key: string, message: string) {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger.warn(message);
  }
}
