import {
  ApprovalRecord,
  Deployment,
  DeploymentAction,
  DeploymentStep,
  LifecycleState,
  OperationStatus,
  OperationType,
  ProbeDefinition,
} from '@internal/plugin-lifecycle-common';
import { RuntimeInstanceExit } from '@internal/plugin-lifecycle-node';
import { HealthVerdict } from '../domain/health/trends';
import { RemediationAction } from '../domain/health/remediation';
import { FailureKind } from '../domain/orchestration/failures';

/**
 * What every orchestrator event carries about its operation.
 *
 * @public
 */
export interface OperationEventSummary {
  operationId: string;
  pluginId: string;
  tenant: string;
  type: OperationType;
  status: OperationStatus;
  attempts: number;
  batchId?: string;
}

/**
 * Payload of `healthMonitor:verdictChanged`.
 *
 * @public
 */
export interface HealthVerdictChange {
  targetId: string;
  pluginId: string;
  instanceId: string;
  ready: boolean;
  live: boolean;
  verdict: HealthVerdict;
  /** 0 to 1: the weight factor for health-weighted load balancing. */
  healthScore: number;
  previous?: HealthVerdict;
  reasons: string[];
  /** The replica that probed the target. */
  reportedBy: string;
}

/**
 * Payload of `stateMachine:stateChanged`.
 *
 * @public
 */
export interface StateChange {
  pluginId: string;
  from: LifecycleState;
  to: LifecycleState;
  revision: number;
  action?: string;
  operationId?: string;
  actor?: string;
  reason?: string;
}

/** @public */
export interface ServiceEvent {
  serviceId: string;
  serviceName?: string;
  tenant?: string;
}

/**
 * What every `deploymentManager:*` event carries: the deployment as it is
 * after what happened, and who made it happen (absent: the controller).
 * `deploymentId` and `pluginId` repeat the deployment's, so a listener
 * written as in the original design (`deployment => deployment.deploymentId`)
 * reads them at the top.
 *
 * @public
 */
export interface DeploymentEvent {
  deploymentId: string;
  pluginId: string;
  deployment: Deployment;
  actor?: string;
  reason?: string;
}

/** The part of a {@link DeploymentEvent} every one of them has. */
export function deploymentEventOf(deployment: Deployment): DeploymentEvent {
  return {
    deploymentId: deployment.id,
    pluginId: deployment.pluginId,
    deployment,
  };
}

/**
 * Payload of `healthMonitor:healthCheckFailed`: a probe of an instance (or
 * of a registered service) was judged failing, `failureThreshold`
 * consecutive failures in a row. Published once per failing streak, when
 * the probe's status turns to failing, not for each failed result: single
 * failures are what the threshold absorbs, and every result of every probe
 * would flood the events service. The instance's verdict (which may not
 * change: a failing readiness probe of an instance that was already
 * unready) is `healthMonitor:verdictChanged`.
 *
 * @public
 */
export interface HealthCheckFailure {
  pluginId: string;
  instanceId: string;
  targetId: string;
  /** Set for a registered service's health check. */
  serviceName?: string;
  probeName: string;
  probeType: ProbeDefinition['type'];
  method: ProbeDefinition['method'];
  consecutiveFailures: number;
  failureThreshold: number;
  /** What the last failed run said (status, error). */
  message?: string;
  latencyMs: number;
  /** ISO 8601. */
  checkedAt: string;
  /** The replica that probed the target. */
  reportedBy: string;
}

/**
 * Every event of the orchestration system, by its `<component>:<event>`
 * name, with its payload: the one list `publish()` and the facade's `on()`
 * are typed by.
 *
 * @public
 */
export interface SystemEventMap {
  'orchestrator:operationQueued': OperationEventSummary;
  'orchestrator:operationCancelled': OperationEventSummary;
  'orchestrator:operationStarted': OperationEventSummary;
  'orchestrator:operationCompleted': OperationEventSummary & {
    result?: unknown;
  };
  'orchestrator:operationRetrying': OperationEventSummary & {
    error: string;
    failureKind: FailureKind;
    delayMs: number;
  };
  'orchestrator:operationFailed': OperationEventSummary & {
    error: string;
    failureKind: FailureKind;
  };
  'orchestrator:circuitOpened': {
    pluginId: string;
    consecutiveFailures: number;
  };
  'stateMachine:stateChanged': StateChange;
  'runtime:instanceExited': RuntimeInstanceExit;
  'runtime:instanceRestartScheduled': {
    pluginId: string;
    instanceId: string;
    delayMs: number;
    crashes: number;
    maxRestarts: number;
  };
  'healthMonitor:verdictChanged': HealthVerdictChange;
  /** A probe turned failing (see {@link HealthCheckFailure}). */
  'healthMonitor:healthCheckFailed': HealthCheckFailure;
  'healthMonitor:probesChanged': {
    pluginId: string;
    probes: Array<{ name: string; type: string }>;
  };
  'healthMonitor:remediation': RemediationAction;
  'healthMonitor:remediationSuppressed': RemediationAction & {
    suppressedBecause: string;
  };
  'configurationManager:changed': {
    pluginId: string;
    layer: string;
    version: number;
    revision: number;
    author?: string;
    keys: string[];
  };
  'configurationManager:secretRotationDue': {
    pluginId: string;
    layer: string;
    key: string;
    rotateAt: string;
    version: number;
  };
  'serviceDiscovery:serviceRegistered': ServiceEvent;
  'serviceDiscovery:serviceDeregistered': ServiceEvent & { reason?: string };
  'serviceDiscovery:serviceExpired': ServiceEvent;
  'serviceDiscovery:instanceEjected': ServiceEvent & {
    ejectedUntil: string;
    ejections: number;
  };
  /** The deployment's update operation ran: the controller advances it from now. */
  'deploymentManager:deploymentStarted': DeploymentEvent;
  'deploymentManager:deploymentStepCompleted': DeploymentEvent & {
    step: DeploymentStep;
  };
  'deploymentManager:deploymentPaused': DeploymentEvent;
  /** A gate waits for a person with the `deployment.approve` permission. */
  'deploymentManager:deploymentApprovalRequired': DeploymentEvent & {
    approval: ApprovalRecord;
  };
  /** Someone (or a gate's timeout) approved or rejected. */
  'deploymentManager:deploymentApprovalDecided': DeploymentEvent & {
    approval: ApprovalRecord;
  };
  /** A person's action (`POST /deployments/{id}/{action}`) was applied. */
  'deploymentManager:deploymentActionTaken': DeploymentEvent & {
    action: DeploymentAction;
  };
  'deploymentManager:deploymentCompleted': DeploymentEvent;
  'deploymentManager:deploymentFailed': DeploymentEvent & { error?: string };
  'deploymentManager:deploymentRolledBack': DeploymentEvent;
}

/** @public */
export type SystemEventName = keyof SystemEventMap;

/** The component part of an event name (`orchestrator`, `health`, ...). */
export type SystemComponent = SystemEventName extends `${infer C}:${string}`
  ? C
  : never;

/** The event names of one component, without the component. */
export type ComponentEvent<C extends SystemComponent> =
  SystemEventName extends infer N
    ? N extends `${C}:${infer E}`
      ? E
      : never
    : never;

/** The payload of `<C>:<E>`. */
export type PayloadOf<
  C extends SystemComponent,
  E extends ComponentEvent<C>,
> = `${C}:${E}` extends SystemEventName ? SystemEventMap[`${C}:${E}`] : never;

/**
 * The one event every component event is also emitted as, as in the
 * original design: `on('systemEvent', e => e.component, e.event, e.args)`.
 *
 * @public
 */
export interface SystemEventEnvelope {
  component: SystemComponent;
  event: string;
  args: unknown[];
}

/**
 * What `on()` accepts: a component event or `systemEvent`.
 *
 * @public
 */
export type SystemEventListeners = {
  [K in SystemEventName]: (payload: SystemEventMap[K]) => void;
} & { systemEvent: (envelope: SystemEventEnvelope) => void };
