import { LoggerService } from '@backstage/backend-plugin-api';
import {
  DeploymentStrategy,
  ProbeDefinition,
} from '@internal/plugin-lifecycle-common';
import type {
  DeploymentPatch,
  DeploymentRecord,
  DeploymentStore,
} from '../../database/DeploymentStore';
import type { RequestStats } from '../discovery/ProxyMetrics';
import type { ActionSteps } from '../lifecycle/ActionSteps';
import type { SystemEvents } from '../../events/SystemEvents';
import type { PluginRecord } from '../../database/PluginStore';
import type { DeploymentAnalysisProvider } from '@internal/plugin-lifecycle-node';

/**
 * A traffic split of one plugin's service as the deployment controller sets
 * it: subset key (`track/version`) to share, and optionally the subset that
 * requests matching a header or cookie go to (A/B).
 */
export interface DeploymentSplit {
  weights: Record<string, number>;
  match?: {
    subset: string;
    header?: { name: string; value: string };
    cookie?: { name: string; value: string };
  };
}

/** What the controller needs of discovery: the split and the measurements per version. */
export interface DeploymentTraffic {
  /** Persists the split (every replica and both data planes follow it); undefined ends it. */
  setSplit(
    plugin: PluginRecord,
    split: DeploymentSplit | undefined,
  ): Promise<void>;
  /** Cumulative request counters of one version through this replica's data plane. */
  versionStats(plugin: PluginRecord, version: string): RequestStats | undefined;
  /** Gives instances another track (their subset key changes with it). */
  setTrack(instanceIds: string[], track: string): Promise<void>;
  /**
   * Waits until this replica's data planes route to every one of these
   * instances (discovery saw them ready); false after `timeoutMs`.
   */
  awaitRoutable(instanceIds: string[], timeoutMs: number): Promise<boolean>;
  /**
   * Waits until this replica's data planes no longer route to any of these
   * (stopped) instances; false after `timeoutMs`. A split that kept them
   * at weight 0 may end only then, or its end would send them traffic.
   */
  awaitUnroutable(instanceIds: string[], timeoutMs: number): Promise<boolean>;
}

/** Options of {@link DeploymentController}. */
export interface DeploymentControllerOptions {
  logger: LoggerService;
  store: DeploymentStore;
  /** The lifecycle steps: stores, runtimes, instances, state machine, configuration. */
  steps: ActionSteps;
  traffic: DeploymentTraffic;
  /** How many of these instances the health monitor judges unhealthy or not live now. */
  unhealthyInstances(pluginId: string, instanceIds: string[]): Promise<number>;
  events: SystemEvents;
  providers?: ReadonlyMap<string, DeploymentAnalysisProvider>;
  /** Hears each deployment that ended (release trains carry on from here). */
  onEnded?: (deployment: DeploymentRecord) => Promise<void>;
  replicaId: string;
  /** How often the controller looks for due deployments (ms). */
  tickMs: number;
  /** How long a claim lasts without renewal (ms). */
  leaseMs: number;
  /** Versions whose files are kept after a deployment (the running one included). */
  keepVersions: number;
  clock?: () => number;
}

/**
 * What executing one step decided: done (next step), come back later, fail
 * (roll back), wait for a person (approval gate, or a pause until promoted),
 * or send traffic back because the old version won (A/B).
 */
export type StepOutcome =
  | { kind: 'done'; message?: string; patch?: DeploymentPatch }
  | { kind: 'wait'; untilMs: number; patch?: DeploymentPatch }
  | { kind: 'fail'; message: string; patch?: DeploymentPatch }
  | { kind: 'approval'; message: string; patch?: DeploymentPatch }
  | { kind: 'pause'; message: string; patch?: DeploymentPatch }
  | { kind: 'revert'; message: string; patch?: DeploymentPatch };

/**
 * What a deployment remembers across steps (in `stepState.context`): set
 * when its update operation hands it over.
 */
export interface DeploymentContext {
  /** Whether the plugin was running (an installed plugin only swaps files). */
  wasRunning: boolean;
  /** The probes the new version's instances must pass. */
  probes: ProbeDefinition[];
  /** The configuration revision the old version ran with. */
  fromConfigRevision: number;
  /** The plugin's instance count when the deployment began. */
  replicas: number;
  /**
   * The trace context of the deployment's span (W3C `traceparent`, ...):
   * its steps' spans are children of it, on whichever replica runs them.
   */
  trace?: Record<string, string>;
}

/** The track new instances of a strategy run in; old ones are `stable`. */
export const NEW_TRACK: Record<DeploymentStrategy, string> = {
  canary: 'canary',
  'blue-green': 'green',
  'a-b-testing': 'b',
  rolling: 'stable',
  recreate: 'stable',
};

/** The track old instances run in. */
export const OLD_TRACK = 'stable';

/** Strategies whose steps move traffic by weight (the others follow instance counts). */
export function splitsTraffic(strategy: DeploymentStrategy): boolean {
  return NEW_TRACK[strategy] !== OLD_TRACK;
}

/** The deployment's context, from its step state. */
export function contextOf(d: DeploymentRecord): DeploymentContext {
  const context = d.stepState.context as DeploymentContext | undefined;
  if (!context) {
    throw new Error(
      `Deployment ${d.id} has no context: its update never handed it over`,
    );
  }
  return context;
}
