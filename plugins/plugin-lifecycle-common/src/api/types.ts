import { LifecycleAction } from '../lifecycle/transitions';
import { LifecycleState } from '../lifecycle/states';
import { Artifact, PluginManifest } from './schemas';

/** Status of an instance as the runtime sees it. @public */
export type InstanceStatus =
  | 'starting'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'crashed';

/** One running copy of one version of a plugin. @public */
export interface PluginInstance {
  id: string;
  pluginId: string;
  version: string;
  track: string;
  runtime: string;
  host: string;
  port: number;
  protocol: string;
  pid?: number;
  status: InstanceStatus;
  /** The backend replica that owns the instance. */
  owner: string;
  startedAt: string;
  stoppedAt?: string;
  exitCode?: number | null;
  lastError?: string;
  /** The configuration revision the instance started or reloaded with. */
  configRevision?: number;
}

/** An installed version of a plugin. @public */
export interface PluginVersion {
  pluginId: string;
  version: string;
  artifact: Artifact;
  manifest: PluginManifest;
  installedAt: string;
}

/** A managed plugin as listed. @public */
export interface PluginSummary {
  id: string;
  tenant: string;
  entityRef?: string;
  runtime: string;
  state: LifecycleState;
  revision: number;
  currentVersion?: string;
  desiredState?: LifecycleState;
  replicas: number;
  lastError?: string;
  createdAt: string;
  updatedAt: string;
}

/** A managed plugin with its versions and instances. @public */
export interface PluginDetails extends PluginSummary {
  versions: PluginVersion[];
  /** The instances that are starting, running or stopping. */
  instances: PluginInstance[];
  /** The latest instances that ended (stopped or crashed), newest first; a bounded history. */
  endedInstances: PluginInstance[];
  availableActions: LifecycleAction[];
  /**
   * Instances that exited without being asked to, within the restart
   * policy's window: while `crashes` is at most `maxRestarts` each is
   * replaced after a back-off; past it (`crashLoop`) the plugin goes to error.
   */
  restarts: {
    crashes: number;
    maxRestarts: number;
    windowMs: number;
    crashLoop: boolean;
    /** When the next replacement is due, if one is waiting. */
    nextRestartAt?: string;
  };
}

/** One recorded change of lifecycle state. @public */
export interface StateTransition {
  id: number;
  pluginId: string;
  fromState: LifecycleState;
  toState: LifecycleState;
  action: string;
  operationId?: string;
  actor?: string;
  reason?: string;
  createdAt: string;
}

/** @public */
export type OperationStatus =
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'cancelled';

/** @public */
export type OperationType = LifecycleAction;

/** A lifecycle action as it is carried out. @public */
export interface Operation {
  id: string;
  pluginId: string;
  tenant: string;
  type: OperationType;
  status: OperationStatus;
  priority?: number;
  maxAttempts?: number;
  nextAttemptAt?: string;
  leaseOwner?: string;
  leaseExpiresAt?: string;
  batchId?: string;
  dependsOn?: string[];
  actor?: string;
  params: Record<string, unknown>;
  attempts: number;
  error?: string;
  result?: Record<string, unknown>;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

/** What the API answers when it accepts an action. @public */
export interface OperationAccepted {
  operationId: string;
  pluginId: string;
  type: OperationType;
  status: OperationStatus;
  /** True when an idempotency key matched an earlier request. */
  replayed?: boolean;
  /** An update of a running plugin: the deployment that rolls it out. */
  deploymentId?: string;
}

/** What the API answers when it accepts a batch. @public */
export interface BatchAccepted {
  batchId: string;
  replayed?: boolean;
  /** In the order given, with what each waits for. */
  operations: Array<OperationAccepted & { dependsOn: string[] }>;
  /**
   * A release train: its deployments in the order they run (only the
   * first one's update is queued at once; each next one when the one
   * before it succeeded).
   */
  deployments?: Array<{ pluginId: string; deploymentId: string }>;
}
