import {
  Deployment,
  Operation,
  PluginLifecycleNotice,
  TERMINAL_DEPLOYMENT_PHASES,
} from '@internal/plugin-lifecycle-common';

/** A notice and the user it is for. */
export interface AddressedNotice {
  /** The user's entity ref. */
  recipient: string;
  notice: PluginLifecycleNotice;
}

/**
 * Whether an actor is a person: automatic actions (`plugin-lifecycle:...`)
 * and other backend plugins (a service principal's subject) have nobody to
 * tell.
 */
export function isUserRef(actor: string | undefined): actor is string {
  return Boolean(actor && /^user:\S+$/i.test(actor));
}

const ENDED_OPERATION = ['succeeded', 'failed', 'cancelled'];

/**
 * The notice for the user who started an operation that ended. None for an
 * update handed to a deployment: the deployment ends later (or fails in the
 * hand-over), and its own notice says how.
 */
export function operationNotice(
  operation: Operation,
  at: Date,
): AddressedNotice | undefined {
  if (!isUserRef(operation.actor)) return undefined;
  if (!ENDED_OPERATION.includes(operation.status)) return undefined;
  if (operation.params.deploymentId || operation.result?.deploymentId) {
    return undefined;
  }
  const version = operation.params.version;
  const notice: PluginLifecycleNotice = {
    kind: 'operation',
    pluginId: operation.pluginId,
    operationId: operation.id,
    what: operation.type,
    ...(typeof version === 'string' ? { version } : {}),
    outcome: operation.status,
    ok: operation.status === 'succeeded',
    ...(operation.error ? { message: operation.error } : {}),
    at: at.toISOString(),
  };
  return { recipient: operation.actor, notice };
}

/** The notice for the user who started a deployment that ended. */
export function deploymentNotice(
  deployment: Deployment,
  at: Date,
): AddressedNotice | undefined {
  if (!isUserRef(deployment.createdBy)) return undefined;
  if (!TERMINAL_DEPLOYMENT_PHASES.includes(deployment.phase)) return undefined;
  const notice: PluginLifecycleNotice = {
    kind: 'deployment',
    pluginId: deployment.pluginId,
    deploymentId: deployment.id,
    ...(deployment.operationId ? { operationId: deployment.operationId } : {}),
    what: 'update',
    version: deployment.toVersion,
    strategy: deployment.strategy,
    outcome: deployment.phase,
    ok: deployment.phase === 'succeeded',
    ...(deployment.message && deployment.phase !== 'succeeded'
      ? { message: deployment.message }
      : {}),
    at: at.toISOString(),
  };
  return { recipient: deployment.createdBy, notice };
}
