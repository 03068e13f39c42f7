import { InputError, NotAllowedError } from '@backstage/errors';
import { Artifact, InstallRequest } from '@internal/plugin-lifecycle-common';
import { PluginLifecycleConfig, configuredArtifact } from '../../config';
import { PluginRecord } from '../../database/PluginStore';
import { ConfigurationManager } from '../../engines/configuration/ConfigurationManager';
import { ExecProbePolicy } from '../../engines/health/execProbePolicy';
import { RuntimeRegistry } from '../../engines/runtime/RuntimeRegistry';
import { parseNpmSpec } from '../../engines/runtime/artifactInstall';
import { parsePluginId } from './pluginLookup';

/** An install request with its version (as a batch item carries it). */
export type InstallRequestWithVersion = Omit<InstallRequest, 'version'> & {
  version: string;
};

/**
 * An npm artifact in a request names a package of the registry: its name
 * follows npm's rules (400 otherwise) and its spec is a version, range or
 * tag. A file:, git or URL spec would fetch from the backend's machine or
 * network, and run a git dependency's build, so only configured plugins
 * may use one (403), as with tarball and command artifacts.
 */
export function assertRequestNpmSpec(artifact: Artifact, version: string) {
  if (artifact.type !== 'npm') return;
  const spec = parseNpmSpec(artifact.package, artifact.version ?? version);
  if (!spec.registry) {
    throw new NotAllowedError(
      `artifact.version '${spec.rawSpec}' is a ${spec.type} spec; requests may only name registry versions, ranges or tags: configure the plugin under pluginLifecycle.plugins`,
    );
  }
}

/** Options of {@link InstallRequests.create}. */
export interface InstallRequestsOptions {
  config: PluginLifecycleConfig;
  execProbes: ExecProbePolicy;
  runtimes: RuntimeRegistry;
  configuration: ConfigurationManager;
}

/**
 * What single installs and batches share about an install request: the
 * checks before anything is stored, the runtime it runs on, and the
 * configuration given with it.
 */
export class InstallRequests {
  readonly #o: InstallRequestsOptions;

  static create(options: InstallRequestsOptions): InstallRequests {
    return new InstallRequests(options);
  }

  private constructor(options: InstallRequestsOptions) {
    this.#o = options;
  }

  /** Refuses (400/403) an install request before anything is stored. */
  validate(id: string, request: InstallRequestWithVersion) {
    const { config } = this.#o;
    parsePluginId(id);
    const environment = request.environment ?? config.defaultEnvironment;
    if (!config.configuration.environments.includes(environment)) {
      throw new InputError(
        `Unknown environment '${environment}'; known: ${config.configuration.environments.join(
          ', ',
        )}`,
      );
    }
    this.#o.configuration.assertStorable(
      id,
      request.configuration ?? [],
      request.manifest?.configSchema,
    );
    if (
      request.artifact &&
      !config.requestArtifactTypes.includes(request.artifact.type)
    ) {
      throw new NotAllowedError(
        `Artifacts of type '${
          request.artifact.type
        }' are not allowed in install requests (allowed: ${
          config.requestArtifactTypes.join(', ') || 'none'
        }); configure the plugin under pluginLifecycle.plugins or extend pluginLifecycle.requestArtifactTypes`,
      );
    }
    if (request.artifact) {
      assertRequestNpmSpec(request.artifact, request.version);
    }
    this.#o.execProbes.assertAllowed(
      [...(request.healthProbes ?? []), ...(request.manifest?.probes ?? [])],
      { kind: 'plugin', pluginId: id, origin: 'the install request' },
    );
    if (request.runtime && !this.#o.runtimes.has(request.runtime)) {
      throw new InputError(`Unknown runtime '${request.runtime}'`);
    }
    if (!request.artifact && !configuredArtifact(config, id)) {
      throw new InputError(
        `No artifact for plugin '${id}': give "artifact" in the request or configure pluginLifecycle.plugins.${id}.artifact`,
      );
    }
  }

  /** The runtime a plugin runs on: the request's, the artifact's, app-config's, what it had, the default. */
  runtimeFor(
    id: string,
    request: { runtime?: string; artifact?: { type: string } },
    current?: string,
  ) {
    const { config } = this.#o;
    return (
      request.runtime ??
      (request.artifact?.type === 'external' ? 'external' : undefined) ??
      config.plugins[id]?.runtime ??
      current ??
      config.defaultRuntime
    );
  }

  /**
   * Configuration given with an install becomes a version of the
   * environment's layer before the operation is queued, so secrets are
   * sealed at once and never sit in the operation's parameters.
   */
  async writeConfiguration(
    plugin: PluginRecord,
    request: Pick<
      InstallRequest,
      'configuration' | 'environment' | 'manifest'
    > & {
      version: string;
    },
    userId?: string,
  ) {
    if (!request.configuration?.length) return;
    // The install's configuration is the layer's new start: it replaces
    // what an earlier install left, required keys included.
    await this.#o.configuration.replacePluginConfiguration(
      plugin.id,
      request.configuration,
      {
        environment: request.environment ?? this.#o.config.defaultEnvironment,
        userId,
        description: `given at install of ${request.version}`,
        schema: request.manifest?.configSchema,
        applyToInstances: false,
        allowDroppingRequired: true,
      },
    );
  }
}
