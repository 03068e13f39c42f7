import { ConflictError } from '@backstage/errors';

/** The config key of Backstage's own plugin ids. */
export const RESERVED_NAMES_KEY =
  'pluginLifecycle.discovery.reservedServiceNames';

/**
 * Ids of Backstage's own backend plugins (and this one), reserved whether or
 * not this backend runs them: other backends' `discovery.getBaseUrl(id)`
 * must never land in a pool a caller registered.
 */
export const DEFAULT_RESERVED_SERVICE_NAMES: readonly string[] = [
  'app',
  'auth',
  'catalog',
  'devtools',
  'events',
  'kubernetes',
  'notifications',
  'permission',
  'plugin-lifecycle',
  'proxy',
  'scaffolder',
  'search',
  'signals',
  'techdocs',
  'user-settings',
];

/** Options of {@link ReservedServiceNames.create}. */
export interface ReservedServiceNamesOptions {
  /** Backstage's plugin ids: the configured list and the backend's installed plugins. */
  backstagePlugins?: Iterable<string>;
  /** Plugin ids under `pluginLifecycle.plugins` and `discovery.managedPlugins`. */
  configuredPlugins?: Iterable<string>;
}

/**
 * Service names a registration may not take: a managed plugin's id (its
 * pool holds only the instances the runtime started for it, so nobody can
 * join it and take its traffic and the tokens sent with it) and the ids of
 * Backstage's own backend plugins.
 *
 * @public
 */
export class ReservedServiceNames {
  readonly #backstage: ReadonlySet<string>;
  readonly #configured: ReadonlySet<string>;

  static create(
    options: ReservedServiceNamesOptions = {},
  ): ReservedServiceNames {
    return new ReservedServiceNames(options);
  }

  private constructor(options: ReservedServiceNamesOptions) {
    this.#backstage = new Set(
      options.backstagePlugins ?? DEFAULT_RESERVED_SERVICE_NAMES,
    );
    this.#configured = new Set(options.configuredPlugins ?? []);
  }

  /**
   * Why `serviceName` is reserved, or undefined. `isManagedPlugin` tells
   * whether a plugin with that id is installed (in any tenant).
   */
  reason(
    serviceName: string,
    isManagedPlugin: (id: string) => boolean,
  ): string | undefined {
    if (this.#configured.has(serviceName) || isManagedPlugin(serviceName)) {
      return `'${serviceName}' is the id of a managed plugin: only the instances the runtime starts for it serve that name`;
    }
    if (this.#backstage.has(serviceName)) {
      return `'${serviceName}' is the id of one of Backstage's own backend plugins (${RESERVED_NAMES_KEY} and the backend's installed plugins)`;
    }
    return undefined;
  }

  /** Whether the name is reserved without asking the database. */
  isReserved(serviceName: string, isManagedPlugin: (id: string) => boolean) {
    return this.reason(serviceName, isManagedPlugin) !== undefined;
  }

  /** Throws a 409 naming the rule when `serviceName` is reserved. */
  assertFree(
    serviceName: string,
    isManagedPlugin: (id: string) => boolean,
    what = 'a registration',
  ): void {
    const why = this.reason(serviceName, isManagedPlugin);
    if (why) {
      throw new ConflictError(
        `Service name ${why}; ${what} under it is refused (reserved service names). Use another service name`,
      );
    }
  }
}
