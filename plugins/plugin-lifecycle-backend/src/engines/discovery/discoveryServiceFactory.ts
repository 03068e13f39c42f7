import {
  DiscoveryService,
  RootConfigService,
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import { HostDiscovery } from '@backstage/backend-defaults/discovery';

/** The id this plugin is mounted under; its own calls never go through the proxy. */
const OWN_PLUGIN_ID = 'plugin-lifecycle';

/**
 * Where managed plugins' traffic goes, from app-config:
 *
 * - `pluginLifecycle.discovery.managedPlugins`: the plugin ids to route
 *   through the proxy; default every id under `pluginLifecycle.plugins`.
 * - `pluginLifecycle.discovery.dataPlane.port` (and `.host`, default
 *   127.0.0.1, or `.url`): when set and no `.token` is required, internal
 *   calls go to the data plane listener, which skips Backstage's middleware
 *   and passes the caller's plugin token through to the instance.
 *   Otherwise they go to the plugin's own `/proxy` route.
 *
 * @public
 */
export interface ManagedPluginRouting {
  managedPlugins: ReadonlySet<string>;
  /** e.g. http://127.0.0.1:7008/proxy */
  dataPlaneUrl?: string;
}

/** Reads {@link ManagedPluginRouting} from the root config. */
export function readManagedPluginRouting(
  config: RootConfigService,
): ManagedPluginRouting {
  const discovery = config.getOptionalConfig('pluginLifecycle.discovery');
  const listed = discovery?.getOptionalStringArray('managedPlugins');
  const ids =
    listed ?? config.getOptionalConfig('pluginLifecycle.plugins')?.keys() ?? [];
  const managedPlugins = new Set(ids.filter(id => id !== OWN_PLUGIN_ID));

  const plane = discovery?.getOptionalConfig('dataPlane');
  let dataPlaneUrl: string | undefined;
  if (plane && !plane.getOptionalString('token')) {
    const url = plane.getOptionalString('url');
    const port = plane.getOptionalNumber('port');
    if (url) {
      dataPlaneUrl = `${url.replace(/\/+$/, '')}/proxy`;
    } else if (port) {
      const host = plane.getOptionalString('host') ?? '127.0.0.1';
      const reachable =
        host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      const bracketed = reachable.includes(':') ? `[${reachable}]` : reachable;
      dataPlaneUrl = `http://${bracketed}:${port}/proxy`;
    }
  }
  return { managedPlugins, dataPlaneUrl };
}

/**
 * A {@link DiscoveryService} that sends calls to managed plugins through the
 * plugin-lifecycle proxy, which picks a ready instance for each request,
 * and answers every other plugin id with the fallback (Backstage's
 * `HostDiscovery`).
 *
 * Which plugins are managed comes from config, not from the database:
 * service factories are built before plugins start, so the plugin's
 * engines do not exist yet, and a plugin-scoped database service would be
 * the calling plugin's database, not this plugin's. A managed plugin with
 * no running instance then gets a 503 naming it from the proxy, which says
 * more than a refused connection would.
 *
 * @public
 */
export class ManagedPluginDiscovery implements DiscoveryService {
  readonly #fallback: DiscoveryService;
  readonly #routing: ManagedPluginRouting;

  static fromConfig(
    config: RootConfigService,
    options: { fallback: DiscoveryService },
  ): ManagedPluginDiscovery {
    return new ManagedPluginDiscovery(
      readManagedPluginRouting(config),
      options.fallback,
    );
  }

  constructor(routing: ManagedPluginRouting, fallback: DiscoveryService) {
    this.#routing = routing;
    this.#fallback = fallback;
  }

  async getBaseUrl(pluginId: string): Promise<string> {
    if (!this.#routing.managedPlugins.has(pluginId)) {
      return this.#fallback.getBaseUrl(pluginId);
    }
    const segment = encodeURIComponent(pluginId);
    if (this.#routing.dataPlaneUrl) {
      return `${this.#routing.dataPlaneUrl}/${segment}`;
    }
    return `${await this.#fallback.getBaseUrl(OWN_PLUGIN_ID)}/proxy/${segment}`;
  }

  async getExternalBaseUrl(pluginId: string): Promise<string> {
    if (!this.#routing.managedPlugins.has(pluginId)) {
      return this.#fallback.getExternalBaseUrl(pluginId);
    }
    // The data plane is internal: browsers go through the backend.
    return `${await this.#fallback.getExternalBaseUrl(
      OWN_PLUGIN_ID,
    )}/proxy/${encodeURIComponent(pluginId)}`;
  }
}

/**
 * Replaces the default `coreServices.discovery` factory: add it to the
 * backend (`backend.add(managedPluginDiscoveryServiceFactory)`).
 *
 * @public
 */
export const managedPluginDiscoveryServiceFactory = createServiceFactory({
  service: coreServices.discovery,
  deps: {
    config: coreServices.rootConfig,
    logger: coreServices.logger,
  },
  async factory({ config, logger }) {
    return ManagedPluginDiscovery.fromConfig(config, {
      fallback: HostDiscovery.fromConfig(config, {
        logger,
        defaultEndpoints: [],
      }),
    });
  },
});
