import { NotFoundError } from '@backstage/errors';
import {
  Artifact,
  AvailableVersions,
  AvailableVersionsSource,
} from '@internal/plugin-lifecycle-common';
import { TenantScope } from '../../domain/tenancy';
import { errorMessage } from '../lifecycle/ActionSteps';
import {
  newestFirst,
  npmRegistryVersions,
  tarballVersions,
} from './versionSources';

/** What the query knows of a stored plugin. */
export interface StoredPluginVersions {
  currentVersion?: string;
  /** The installed versions with the artifact each came from. */
  installed: Array<{ version: string; artifact: Artifact }>;
}

/** Options of {@link AvailableVersionsQuery.create}. */
export interface AvailableVersionsQueryOptions {
  /** `pluginLifecycle.plugins.<id>`: its artifact and version list, if configured. */
  configured: (
    pluginId: string,
  ) => { artifact: Artifact; versions?: string[] } | undefined;
  /**
   * The stored plugin within the caller's scope; undefined when there is no
   * such plugin, a NotFoundError when it is another tenant's.
   */
  stored: (
    pluginId: string,
    scope: TenantScope,
  ) => Promise<StoredPluginVersions | undefined>;
  /** Where relative tarball paths resolve from (the process runtime's base directory). */
  baseDir: string;
  /** Lists a package's registry versions (default: npm view). */
  npmVersions?: (packageName: string) => Promise<string[]>;
}

/**
 * The versions a plugin may be installed at or updated to, from where its
 * versions come from: the configured list, the directory of its tarball
 * path template, or the npm registry (an npm artifact that leaves the
 * version to the plugin version). A command or external artifact offers
 * none: the user types the version.
 */
export class AvailableVersionsQuery {
  readonly #o: AvailableVersionsQueryOptions;

  static create(options: AvailableVersionsQueryOptions) {
    return new AvailableVersionsQuery(options);
  }

  private constructor(options: AvailableVersionsQueryOptions) {
    this.#o = options;
  }

  /** 404 for a plugin neither stored (in the scope) nor configured. */
  async list(pluginId: string, scope: TenantScope): Promise<AvailableVersions> {
    const stored = await this.#o.stored(pluginId, scope);
    const configured = this.#o.configured(pluginId);
    if (!stored && !configured) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    const installed = stored?.installed ?? [];
    // A plugin installed with the artifact in its request has no configured
    // one: its latest installed version's artifact stands for its source.
    const artifact = configured?.artifact ?? installed.at(-1)?.artifact;
    let source: AvailableVersionsSource = 'none';
    let versions: string[] = [];
    let problem: string | undefined;
    try {
      if (configured?.versions) {
        source = 'configured';
        versions = newestFirst(configured.versions);
      } else if (artifact?.type === 'tarball') {
        source = 'tarball';
        versions = await tarballVersions(artifact.path, this.#o.baseDir);
      } else if (artifact?.type === 'npm' && !artifact.version) {
        source = 'npm';
        versions = await (this.#o.npmVersions ?? npmRegistryVersions)(
          artifact.package,
        );
      }
    } catch (error) {
      // The form falls back to free text; the reason is shown with it.
      problem = `Could not list the ${source} versions: ${errorMessage(error)}`;
      versions = [];
    }
    const installedSet = new Set(installed.map(v => v.version));
    const current = stored?.currentVersion;
    return {
      pluginId,
      source,
      ...(current ? { currentVersion: current } : {}),
      // The installed versions are offered even when the source dropped them.
      items: newestFirst([...versions, ...installedSet]).map(version => ({
        version,
        current: version === current,
        installed: installedSet.has(version),
      })),
      ...(problem ? { problem } : {}),
    };
  }
}
