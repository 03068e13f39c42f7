import { ConflictError } from '@backstage/errors';
import {
  DeploymentStep,
  TypedOperation,
  UpdateResult,
} from '@internal/plugin-lifecycle-common';
import type { DeploymentRecord } from '../../database/DeploymentStore';
import { PreconditionError } from '../../domain/orchestration';
import type { DeploymentContext } from '../deployments/deploymentTypes';
import { deploymentTrace } from '../deployments/deploymentTracing';
import { ActionSteps, errorMessage, failure } from './ActionSteps';
import { installVersion } from './installAction';
import { checkStartPreconditions } from './preconditionChecks';

/**
 * The `update` operation of a deployment: checks that the plugin can move,
 * installs the new version's files, enters `updating` and hands the
 * deployment (with what it must remember: whether the plugin ran, the
 * probes of the new version, the configuration revision of the old one)
 * to the controller, which moves the instances after this operation ended.
 * A failure before the hand-over leaves the plugin as it was and the
 * deployment `failed` with the reason.
 */
export async function handOverDeployment(
  s: ActionSteps,
  op: TypedOperation<'update'>,
  signal: AbortSignal,
): Promise<UpdateResult> {
  const { params } = op;
  const deployments = s.options.deployments;
  const deploymentId = params.deploymentId!;
  if (!deployments) {
    throw new Error('deployments are not wired into the lifecycle actions');
  }
  const { store } = deployments;
  const d = await store.getOrThrow(deploymentId);
  let plugin = await s.plugins.getOrThrow(op.pluginId);
  const context = d.stepState.context as DeploymentContext | undefined;
  if (d.phase !== 'pending') {
    if (context && d.operationId === op.id) {
      // An earlier attempt handed it over and was cut off before its result.
      return resultOf(
        d,
        context,
        plugin.configRevision ?? context.fromConfigRevision,
      );
    }
    throw Object.assign(
      new ConflictError(
        `Deployment ${d.id} is ${d.phase}: this update has nothing left to do`,
      ),
      { retryable: false },
    );
  }
  const refuse = async (message: string) => {
    await markFailed(s, d, message);
    return Object.assign(new PreconditionError(message), { retryable: false });
  };
  const resuming = s.resuming(plugin, 'updating', op);
  if (!resuming && plugin.currentVersion !== d.fromVersion) {
    throw await refuse(
      `Plugin '${plugin.id}' runs ${
        plugin.currentVersion ?? 'nothing'
      } now, not ${d.fromVersion}`,
    );
  }
  const previous = await s.plugins.getVersion(plugin.id, d.fromVersion);
  if (!previous) {
    throw await refuse(
      `Version ${d.fromVersion} of '${plugin.id}' is not installed`,
    );
  }
  const wasRunning = resuming
    ? (await s.plugins.lastTransition(plugin.id))?.fromState === 'running'
    : plugin.state === 'running';
  if (!resuming && wasRunning) {
    try {
      await checkStartPreconditions(
        s,
        plugin,
        params.manifest ?? previous.manifest,
        op,
      );
    } catch (error) {
      throw await refuse(errorMessage(error));
    }
  }
  const fromConfigRevision = wasRunning
    ? plugin.configRevision ?? (await s.configuration.resolve(plugin)).revision
    : (await s.configuration.resolve(plugin)).revision;
  // An external version (someone else runs it) has no files to take the
  // next version's from: the artifact configured for the plugin is what
  // brings it under management.
  const configured = s.options.configuredArtifact(op.pluginId);
  const artifact =
    params.artifact ??
    (previous.artifact?.type === 'external'
      ? configured ?? previous.artifact
      : previous.artifact ?? configured);
  const runtime = s.runtimes.get(s.runtimeForVersion(plugin, artifact));
  try {
    plugin = await s.begin(
      plugin,
      'updating',
      op,
      `update ${d.fromVersion} -> ${d.toVersion} (${d.strategy} deployment ${d.id})`,
    );
  } catch (error) {
    throw await refuse(errorMessage(error));
  }
  try {
    const { manifest } = await installVersion(s, op, runtime, {
      version: d.toVersion,
      artifact,
      manifest: params.manifest,
      signal,
    });
    const handed: DeploymentContext = {
      wasRunning,
      probes: params.healthProbes ?? manifest.probes ?? plugin.probes,
      fromConfigRevision,
      replicas: plugin.replicas,
      trace: deploymentTrace(d),
    };
    // An installed plugin that does not run only swaps its files.
    const steps: DeploymentStep[] = wasRunning
      ? d.steps
      : [{ index: 0, kind: 'finish', status: 'pending' }];
    const after = await store.change(d.id, current =>
      current.phase === 'pending'
        ? {
            phase: 'progressing',
            operationId: op.id,
            steps,
            currentStep: 0,
            stepState: { ...current.stepState, context: handed },
            nextRunAt: new Date().toISOString(),
          }
        : undefined,
    );
    deployments.handedOver(d, after);
    const config = await s.configuration.resolve(plugin);
    return resultOf(after, handed, config.revision);
  } catch (error) {
    const message = `update ${d.fromVersion} -> ${
      d.toVersion
    } failed before its deployment started: ${errorMessage(error)}`;
    await runtime
      .uninstall({ pluginId: op.pluginId, version: d.toVersion })
      .catch(e => s.logger.warn(`cleanup after failed update: ${e}`));
    await s.plugins.deleteVersion(op.pluginId, d.toVersion);
    await s.stateMachine.transitionLatest(
      op.pluginId,
      wasRunning ? 'running' : 'installed',
      { ...s.ctx(op, message), patch: { lastError: message } },
    );
    await markFailed(s, d, message);
    throw Object.assign(failure(message, error), { retryable: false });
  }
}

function resultOf(
  d: DeploymentRecord,
  context: DeploymentContext,
  configRevision: number,
): UpdateResult {
  return {
    fromVersion: d.fromVersion,
    toVersion: d.toVersion,
    fromConfigRevision: context.fromConfigRevision,
    configRevision,
    instances: [],
    deploymentId: d.id,
  };
}

async function markFailed(
  s: ActionSteps,
  d: DeploymentRecord,
  message: string,
) {
  const deployments = s.options.deployments!;
  const after = await deployments.store
    .endPending(d.id, 'failed', message)
    .catch(e => {
      s.logger.error(`deployment ${d.id}: recording its failure: ${e}`);
      return undefined;
    });
  if (after) deployments.handedOver(d, after);
}
