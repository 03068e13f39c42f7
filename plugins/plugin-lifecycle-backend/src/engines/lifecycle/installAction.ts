import { InputError } from '@backstage/errors';
import {
  Artifact,
  InstallResult,
  PluginManifest,
  TypedOperation,
  manifestSchema,
} from '@internal/plugin-lifecycle-common';
import { PluginRuntime } from '@internal/plugin-lifecycle-node';
import { ExecProbePolicy } from '../health/execProbePolicy';
import { ActionOperation, ActionSteps, errorMessage } from './ActionSteps';
import { startPlugin } from './startStopActions';

/**
 * Installs a version (from the request's artifact or the one configured for
 * the plugin) and records the plugin's settings from the request; with
 * `start` it starts the plugin too. A failed install removes what it
 * installed and returns the plugin to `inactive`.
 */
export async function installPlugin(
  s: ActionSteps,
  op: TypedOperation<'install'>,
  signal: AbortSignal,
): Promise<InstallResult> {
  const { params } = op;
  const { version } = params;
  const artifact = params.artifact ?? s.options.configuredArtifact(op.pluginId);
  if (!artifact) {
    throw new InputError(
      `No artifact for plugin '${op.pluginId}': give one in the request or configure pluginLifecycle.plugins.${op.pluginId}.artifact`,
    );
  }
  let plugin = await s.plugins.getOrThrow(op.pluginId);
  const runtime = s.runtimes.get(plugin.runtime);
  plugin = await s.begin(plugin, 'installing', op, `install ${version}`);
  try {
    const { manifest } = await installVersion(s, op, runtime, {
      version,
      artifact,
      manifest: params.manifest,
      signal,
    });
    plugin = await s.stateMachine.transition(plugin, 'installed', {
      ...s.ctx(op, `installed ${version}`),
      patch: {
        currentVersion: version,
        lastError: undefined,
        desiredState: 'installed',
        configuration: params.configuration ?? plugin.configuration,
        probes:
          params.healthProbes ?? manifest.probes ?? runtime.defaultProbes ?? [],
        environment: params.environment ?? plugin.environment,
        replicas: params.replicas ?? plugin.replicas,
      },
    });
  } catch (error) {
    const message = `install of ${version} failed: ${errorMessage(error)}`;
    await runtime
      .uninstall({ pluginId: op.pluginId, version })
      .catch(e => s.logger.warn(`cleanup after failed install: ${e}`));
    await s.plugins.deleteVersion(op.pluginId, version);
    throw await s.fail(op, 'inactive', message, error);
  }
  if (params.start) {
    return { version, ...(await startPlugin(s, op, signal)) };
  }
  return { version };
}

/**
 * Installs a version with the runtime and records it with its manifest (the
 * package's, overridden by the request's). Shared by install and update.
 */
export async function installVersion(
  s: ActionSteps,
  op: ActionOperation,
  runtime: PluginRuntime,
  request: {
    version: string;
    artifact?: Artifact;
    manifest?: PluginManifest;
    signal: AbortSignal;
  },
) {
  const { version, artifact, signal } = request;
  if (!artifact) {
    throw new InputError(
      `No artifact for plugin '${op.pluginId}': give one in the request or configure pluginLifecycle.plugins.${op.pluginId}.artifact`,
    );
  }
  const installed = await runtime.install({
    pluginId: op.pluginId,
    version,
    artifact,
    signal,
  });
  signal.throwIfAborted();
  const parsed = manifestSchema.safeParse({
    ...installed.manifest,
    ...request.manifest,
  });
  if (!parsed.success) {
    throw new InputError(
      `The manifest of ${
        op.pluginId
      }@${version} is invalid: ${parsed.error.issues
        .map(i => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ')}`,
    );
  }
  // A package's author is not the operator: its manifest cannot bring an
  // exec probe the operator did not allow. Refused before the version is
  // recorded; the install fails and is cleaned up like any failed install.
  (s.options.execProbes ?? ExecProbePolicy.create()).assertAllowed(
    parsed.data.probes,
    {
      kind: 'plugin',
      pluginId: op.pluginId,
      origin: `the manifest of ${op.pluginId}@${version}`,
    },
  );
  const stored = {
    pluginId: op.pluginId,
    version,
    artifact,
    manifest: parsed.data,
    location: installed.location,
    installedAt: new Date().toISOString(),
  };
  await s.plugins.putVersion(stored);
  return { manifest: parsed.data, stored };
}
