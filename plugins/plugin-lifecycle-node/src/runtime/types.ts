import {
  Artifact,
  PluginManifest,
  ProbeDefinition,
} from '@internal/plugin-lifecycle-common';

/** @public */
export interface RuntimeInstallRequest {
  pluginId: string;
  version: string;
  artifact: Artifact;
  signal?: AbortSignal;
}

/** @public */
export interface RuntimeInstallResult {
  /** Where the runtime put the version (a directory, an image reference ...). */
  location?: string;
  /** The manifest the artifact ships, if any (`pluginLifecycle` in package.json). */
  manifest?: PluginManifest;
}

/** @public */
export interface RuntimeStartRequest {
  pluginId: string;
  version: string;
  instanceId: string;
  artifact: Artifact;
  location?: string;
  /** Environment for the instance, including the plugin's configuration. */
  env: Record<string, string>;
  /**
   * The discovery track the instance starts in (`stable`, `canary`, ...).
   * A cluster runtime keeps one workload per plugin, version and track.
   */
  track?: string;
  /**
   * The plugin's probes, for a runtime that runs them itself (a cluster's
   * container probes); the backend's health monitor runs them either way.
   */
  probes?: ProbeDefinition[];
  /** Compute resources per instance, for a runtime that can reserve them. */
  resources?: RuntimeResources;
  signal?: AbortSignal;
}

/** Compute resources of one instance, in Kubernetes quantities (`500m`, `256Mi`). @public */
export interface RuntimeResources {
  cpu?: string;
  memory?: string;
}

/** Where a started instance can be reached. @public */
export interface RuntimeInstance {
  instanceId: string;
  host: string;
  port: number;
  protocol: string;
  pid?: number;
  /** The process group the instance runs in (a local process runtime). */
  processGroup?: number;
  /**
   * When the process started (Linux: /proc/<pid>/stat field 22): with the
   * pid, it tells the same process from a later one given the same pid.
   */
  processStartTime?: string;
}

/**
 * A recorded instance a runtime may take over (adopt) or stop (reap) when
 * the backend that started it is gone.
 *
 * @public
 */
export interface RecordedRuntimeInstance {
  pluginId: string;
  version: string;
  instanceId: string;
  host: string;
  port: number;
  protocol?: string;
  pid?: number;
  processGroup?: number;
  processStartTime?: string;
}

/** @public */
export interface RuntimeStopRequest {
  pluginId: string;
  instanceId: string;
  /** Time between the polite stop (SIGTERM) and the forced one (SIGKILL). */
  gracePeriodMs: number;
}

/** @public */
export interface RuntimeStopResult {
  exitCode: number | null;
  signal: string | null;
  /** True when the instance had to be killed after the grace period. */
  forced: boolean;
}

/**
 * Hands a running instance a new configuration without restarting it.
 *
 * @public
 */
export interface RuntimeReloadRequest {
  pluginId: string;
  instanceId: string;
  /** The instance's new environment, with `PLUGIN_CONFIG` (JSON). */
  env: Record<string, string>;
  /** `signal`: rewrite `PLUGIN_CONFIG_FILE`, then signal; `endpoint`: POST it. */
  strategy: 'signal' | 'endpoint';
  /** Default SIGHUP. */
  signal?: 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2';
  /** Default `/-/reload`. */
  endpoint?: string;
  timeoutMs?: number;
}

/** Instances of one plugin that move to another track. @public */
export interface RuntimeTrackRequest {
  pluginId: string;
  instanceIds: string[];
  track: string;
}

/** An instance ended, whether asked to or not. @public */
export interface RuntimeInstanceExit {
  pluginId: string;
  instanceId: string;
  exitCode: number | null;
  signal: string | null;
  /** False when the instance ended without being asked to: a crash. */
  expected: boolean;
  /** The last lines the instance wrote, to say why it ended. */
  output: string;
}

/**
 * Runs plugin instances. The `process` runtime (local child processes) and the
 * `external` runtime (instances someone else runs) are built in; a cluster
 * engine implements the same interface (install = make the image or package
 * available, startInstance = create a workload, stopInstance = delete it).
 *
 * @public
 */
export interface PluginRuntime {
  readonly type: string;
  /**
   * The probes a plugin on this runtime gets when neither its install
   * request nor its manifest gives any (a cluster runtime: the pod's
   * readiness as the cluster reports it). Optional.
   */
  readonly defaultProbes?: ProbeDefinition[];
  install(request: RuntimeInstallRequest): Promise<RuntimeInstallResult>;
  uninstall(request: {
    pluginId: string;
    version: string;
    location?: string;
  }): Promise<void>;
  startInstance(request: RuntimeStartRequest): Promise<RuntimeInstance>;
  stopInstance(request: RuntimeStopRequest): Promise<RuntimeStopResult>;
  /** Whether this runtime still runs the instance. */
  isAlive(instanceId: string): Promise<boolean>;
  /** Subscribes to instance exits; returns an unsubscribe function. */
  onInstanceExit(listener: (exit: RuntimeInstanceExit) => void): () => void;
  /**
   * Gives a running instance a new configuration in place (hot reload).
   * Optional: without it, configuration changes restart instances.
   */
  reloadInstance?(request: RuntimeReloadRequest): Promise<void>;
  /**
   * Moves running instances to another track (a deployment promotes its
   * canary or green instances to `stable`), for a runtime that labels its
   * workloads by track. The backend's record and discovery move either way.
   * Optional.
   */
  setInstanceTrack?(request: RuntimeTrackRequest): Promise<void>;
  /**
   * Stops everything this runtime started in this process; with
   * `leaveRunning`, a runtime whose instances can outlive the backend lets
   * them run on, for the next backend to adopt.
   */
  shutdown(options: {
    gracePeriodMs: number;
    leaveRunning?: boolean;
  }): Promise<void>;
  /**
   * Takes over a still running instance that a gone backend started, so
   * that a backend restart restarts no plugin. Whether it was adopted; an
   * instance not adopted is reaped. Optional.
   */
  adoptInstance?(instance: RecordedRuntimeInstance): Promise<boolean>;
  /**
   * Stops an instance that an earlier run of the backend started and no
   * longer manages (it was killed before it could stop its instances).
   * Returns whether something was stopped. Optional: runtimes whose
   * instances cannot outlive the backend need not implement it.
   */
  reapOrphan?(
    instance: Omit<RecordedRuntimeInstance, 'host' | 'port' | 'protocol'>,
  ): Promise<boolean>;
  /**
   * Stops what gone backends started on this host and nobody recorded or
   * adopted (an instance never written down, an install step left
   * running). Optional.
   */
  reapOrphans?(): Promise<unknown[]>;
}
