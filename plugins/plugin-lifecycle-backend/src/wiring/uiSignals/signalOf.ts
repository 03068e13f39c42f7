import { PluginLifecycleSignalKind } from '@internal/plugin-lifecycle-common';
import {
  DeploymentEvent,
  OperationEventSummary,
  SystemEventMap,
  SystemEventName,
} from '../../events/eventMap';

/** What a UI signal is about: the plugin and what changed. */
export interface SignalTarget {
  pluginId: string;
  kind: PluginLifecycleSignalKind;
  operationId?: string;
  deploymentId?: string;
}

type Mapper<N extends SystemEventName> = (
  payload: SystemEventMap[N],
  /** This replica: what another replica reported, it signals itself. */
  replicaId: string,
) => SignalTarget | undefined;

const operation = (p: OperationEventSummary): SignalTarget => ({
  pluginId: p.pluginId,
  kind: 'operation',
  operationId: p.operationId,
});

const deployment = (p: DeploymentEvent): SignalTarget => ({
  pluginId: p.deployment.pluginId,
  kind: 'deployment',
  deploymentId: p.deployment.id,
  ...(p.deployment.operationId
    ? { operationId: p.deployment.operationId }
    : {}),
});

const of =
  (kind: PluginLifecycleSignalKind) =>
  (p: { pluginId: string }): SignalTarget => ({ pluginId: p.pluginId, kind });

/**
 * Which event of the system tells the UI what, by event name. Every event is
 * listed, so that a new one is a decision: `null` for those no view of a
 * plugin shows.
 */
export const SIGNAL_MAPPERS: { [N in SystemEventName]: Mapper<N> | null } = {
  'orchestrator:operationQueued': operation,
  'orchestrator:operationCancelled': operation,
  'orchestrator:operationStarted': operation,
  'orchestrator:operationCompleted': operation,
  'orchestrator:operationRetrying': operation,
  'orchestrator:operationFailed': operation,
  // The breaker changes which actions the plugin accepts.
  'orchestrator:circuitOpened': of('state'),
  'stateMachine:stateChanged': p => ({
    pluginId: p.pluginId,
    kind: 'state',
    ...(p.operationId ? { operationId: p.operationId } : {}),
  }),
  'runtime:instanceExited': of('instances'),
  'runtime:instanceRestartScheduled': of('instances'),
  // Every replica hears every verdict; the one that probed signals it.
  'healthMonitor:verdictChanged': (p, replicaId) =>
    p.reportedBy === replicaId
      ? { pluginId: p.pluginId, kind: 'health' }
      : undefined,
  // A probe turned failing: its status shows on the Health tab.
  'healthMonitor:healthCheckFailed': (p, replicaId) =>
    p.reportedBy === replicaId
      ? { pluginId: p.pluginId, kind: 'health' }
      : undefined,
  'healthMonitor:probesChanged': of('health'),
  'healthMonitor:remediation': of('health'),
  'healthMonitor:remediationSuppressed': of('health'),
  'configurationManager:changed': of('configuration'),
  'configurationManager:secretRotationDue': of('configuration'),
  // Routing changes: what the tabs show of them comes with the health
  // verdicts and instance events above.
  'serviceDiscovery:serviceRegistered': null,
  'serviceDiscovery:serviceDeregistered': null,
  'serviceDiscovery:serviceExpired': null,
  'serviceDiscovery:instanceEjected': null,
  'deploymentManager:deploymentStarted': deployment,
  'deploymentManager:deploymentStepCompleted': deployment,
  'deploymentManager:deploymentPaused': deployment,
  'deploymentManager:deploymentApprovalRequired': deployment,
  'deploymentManager:deploymentApprovalDecided': deployment,
  'deploymentManager:deploymentActionTaken': deployment,
  'deploymentManager:deploymentCompleted': deployment,
  'deploymentManager:deploymentFailed': deployment,
  'deploymentManager:deploymentRolledBack': deployment,
};

/** The UI signal an event of the system makes, if any. */
export function signalOf(
  name: string,
  payload: unknown,
  replicaId: string,
): SignalTarget | undefined {
  const mapper = SIGNAL_MAPPERS[name as SystemEventName] as
    | Mapper<SystemEventName>
    | null
    | undefined;
  return mapper?.(payload as never, replicaId);
}
