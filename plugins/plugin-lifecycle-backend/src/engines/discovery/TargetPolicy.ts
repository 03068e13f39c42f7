import { LookupAddress, LookupOptions, lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { InputError } from '@backstage/errors';
import ipaddr from 'ipaddr.js';

/** The config key every refusal names. */
export const ALLOWED_TARGETS_KEY = 'pluginLifecycle.discovery.allowedTargets';

/** Loopback and the private ranges (RFC 1918, RFC 4193). */
export const DEFAULT_ALLOWED_TARGETS: readonly string[] = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
];

/**
 * Never a target, whatever `allowedTargets` says: link-local addresses are
 * where cloud metadata services answer (169.254.169.254), and the
 * unspecified address connects to this host.
 */
const NEVER: ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [
  ipaddr.parseCIDR('169.254.0.0/16'),
  ipaddr.parseCIDR('fe80::/10'),
  ipaddr.parseCIDR('0.0.0.0/32'),
  ipaddr.parseCIDR('::/128'),
];

/** A listener of this backend's (its own port, its database) that no target may be. */
export interface ReservedEndpoint {
  /** What it is, for the message: "the backend's own listener". */
  what: string;
  /** A host name or an address; a local one stands for every address of this host. */
  host: string;
  port: number;
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;

function parse(ip: string): Address {
  // ::ffff:169.254.169.254 is 169.254.169.254.
  return ipaddr.process(ip.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
}

function inRange(address: Address, [net, bits]: [Address, number]): boolean {
  return address.kind() === net.kind() && address.match(net, bits);
}

/** Resolves a host name to every address, as node:net would connect to it. */
function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => {
      if (error) reject(error);
      else resolve((addresses as LookupAddress[]).map(a => a.address));
    });
  });
}

/** The error a refused connection fails with (and its code). */
export class TargetNotAllowedError extends Error {
  readonly code = 'ERR_TARGET_NOT_ALLOWED';
  constructor(message: string) {
    super(message);
    this.name = 'NotAllowedError';
  }
}

/** Options of {@link TargetPolicy.create}. */
export interface TargetPolicyOptions {
  /** CIDRs targets must fall in. Default {@link DEFAULT_ALLOWED_TARGETS}. */
  allowedTargets?: readonly string[];
  /** This backend's own listeners: never a target at their port. */
  reserved?: readonly ReservedEndpoint[];
  /** Resolves host names; injected by tests. Default node:dns lookup (all addresses). */
  resolve?: (host: string) => Promise<string[]>;
}

/**
 * Where discovery may send traffic and probes (SSRF): a registered
 * service, an external endpoint and a probe must be at an address inside
 * `allowedTargets`, never link-local (cloud metadata) and never one of the
 * backend's own listeners (its port on this host, its database). A host
 * name is resolved and every address it resolves to must pass; the proxy
 * checks again when it connects (its `lookup`), so a name that later
 * resolves elsewhere is refused then.
 *
 * @public
 */
export class TargetPolicy {
  readonly #allowed: Array<[Address, number]>;
  readonly #reserved: Array<{
    what: string;
    host: string;
    port: number;
    addresses: Address[];
    /** Local: the port on any address of this host is the endpoint. */
    local: boolean;
  }>;
  readonly #resolve: (host: string) => Promise<string[]>;
  readonly #local: Address[];

  static create(options: TargetPolicyOptions = {}): TargetPolicy {
    return new TargetPolicy(options);
  }

  /** Every CIDR must parse; a bad one names itself. */
  static parseCidrs(cidrs: readonly string[]): Array<[Address, number]> {
    return cidrs.map(cidr => {
      let parsed: [Address, number];
      try {
        parsed = ipaddr.parseCIDR(cidr);
      } catch {
        throw new TypeError(`'${cidr}' is not a CIDR such as 10.0.0.0/8`);
      }
      const [address, bits] = parsed;
      // ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are compared as IPv4.
      if (address.kind() === 'ipv6') {
        const v6 = address as ipaddr.IPv6;
        if (v6.isIPv4MappedAddress() && bits >= 96) {
          return [v6.toIPv4Address(), bits - 96];
        }
      }
      return parsed;
    });
  }

  private constructor(options: TargetPolicyOptions) {
    this.#allowed = TargetPolicy.parseCidrs(
      options.allowedTargets ?? DEFAULT_ALLOWED_TARGETS,
    );
    this.#resolve = options.resolve ?? resolveAll;
    this.#local = localAddresses();
    this.#reserved = (options.reserved ?? []).map(endpoint => {
      const bare = stripBrackets(endpoint.host);
      const addresses = isIP(bare) ? [parse(bare)] : [];
      return {
        what: endpoint.what,
        host: bare,
        port: endpoint.port,
        addresses,
        local:
          /^localhost\.?$/i.test(bare) || addresses.some(a => this.#isLocal(a)),
      };
    });
  }

  /**
   * Resolves the reserved endpoints given by host name (the database's,
   * usually); call once before the policy is used.
   */
  async init(): Promise<void> {
    for (const endpoint of this.#reserved) {
      if (endpoint.addresses.length > 0 || endpoint.local) continue;
      try {
        endpoint.addresses.push(
          ...(await this.#resolve(endpoint.host)).map(parse),
        );
      } catch {
        continue; // a name that does not resolve is not reachable either
      }
      endpoint.local = endpoint.addresses.some(a => this.#isLocal(a));
    }
  }

  /**
   * Why `ip:port` may not be a target, or undefined when it may.
   * `ip` must be an address (no host name).
   */
  refusal(ip: string, port: number): string | undefined {
    let address: Address;
    try {
      address = parse(ip);
    } catch {
      return `'${ip}' is not an IP address`;
    }
    const shown = address.toString();
    if (NEVER.some(range => inRange(address, range))) {
      return `${shown} is a link-local or unspecified address, never a target`;
    }
    for (const reserved of this.#reserved) {
      if (reserved.port !== port) continue;
      const same =
        reserved.addresses.some(a => a.toString() === shown) ||
        (reserved.local && this.#isLocal(address));
      if (same) return `${shown}:${port} is ${reserved.what}`;
    }
    if (!this.#allowed.some(range => inRange(address, range))) {
      return `${shown} is outside ${ALLOWED_TARGETS_KEY}`;
    }
    return undefined;
  }

  /**
   * Why `host:port` may not be a target, or undefined when it may: an
   * address is checked as it is, a host name by every address it resolves
   * to (a name that does not resolve is refused).
   */
  async check(host: string, port: number): Promise<string | undefined> {
    const bare = stripBrackets(host);
    if (isIP(bare)) return this.refusal(bare, port);
    let addresses: string[];
    try {
      addresses = await this.#resolve(bare);
    } catch (error) {
      return `${host} does not resolve (${(error as Error).message})`;
    }
    if (addresses.length === 0) return `${host} does not resolve`;
    for (const address of addresses) {
      const why = this.refusal(address, port);
      if (why) return `${host} resolves to ${address}: ${why}`;
    }
    return undefined;
  }

  /** Throws a 400 naming {@link ALLOWED_TARGETS_KEY} unless `host:port` may be a target. */
  async assertAllowed(host: string, port: number, what: string): Promise<void> {
    const why = await this.check(host, port);
    if (why) {
      throw new InputError(
        `${what} may not point at ${host}:${port}: ${why}. Targets must be in ${ALLOWED_TARGETS_KEY} (default loopback and private ranges), never link-local, the backend's own port or its database`,
      );
    }
  }

  /**
   * A `lookup` for node:net (and undici's `connect` options): resolves as
   * node:dns does and refuses, at connect time, a name that resolves to an
   * address that may not be a target (DNS rebinding).
   */
  lookupFor(port: number) {
    return (
      hostname: string,
      options: LookupOptions,
      callback: (
        error: NodeJS.ErrnoException | null,
        address: string | LookupAddress[],
        family?: number,
      ) => void,
    ) => {
      this.#resolve(hostname).then(
        addresses => {
          const refused = addresses
            .map(a => this.refusal(a, port))
            .find(Boolean);
          if (refused || addresses.length === 0) {
            callback(
              new TargetNotAllowedError(
                `${hostname} resolves to a target that is not allowed: ${
                  refused ?? 'no address'
                } (${ALLOWED_TARGETS_KEY})`,
              ),
              '',
            );
            return;
          }
          const all = addresses.map(address => ({
            address,
            family: isIP(address),
          }));
          if (options?.all) callback(null, all);
          else callback(null, all[0].address, all[0].family);
        },
        error => callback(error, ''),
      );
    };
  }

  #isLocal(address: Address): boolean {
    const range = address.range();
    if (range === 'loopback' || range === 'unspecified') return true;
    const shown = address.toString();
    return this.#local.some(a => a.toString() === shown);
  }
}

function stripBrackets(host: string): string {
  return host.replace(/^\[|\]$/g, '');
}

/** This host's own interface addresses: its port on any of them is itself. */
function localAddresses(): Address[] {
  const found: Address[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      try {
        found.push(parse(info.address));
      } catch {
        // an address ipaddr.js cannot read is not one we compare with
      }
    }
  }
  return found;
}
