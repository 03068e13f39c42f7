import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import type { LoggerService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import type {
  PluginRuntime,
  RecordedRuntimeInstance,
  RuntimeInstallRequest,
  RuntimeInstallResult,
  RuntimeInstance,
  RuntimeInstanceExit,
  RuntimeStartRequest,
  RuntimeStopRequest,
  RuntimeStopResult,
  RuntimeTrackRequest,
} from '@internal/plugin-lifecycle-node';
import { KubernetesRuntimeConfig, namespaceForPlugin } from './config';
import { assertRights } from './KubernetesAccess';
import { clusterError, isStatus } from './errors';
import { InstancePods } from './InstancePods';
import { InstanceSets } from './InstanceSets';
import {
  DEFAULT_PORT,
  imageOf,
  INSTANCE_LABEL,
  InstanceSetSpec,
  labelValue,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  PLUGIN_LABEL,
  selectorString,
  SERVING_LABEL,
  TRACK_LABEL,
  VERSION_LABEL,
} from './objects';
import { InstanceExits } from './InstanceExits';
import { isAlivePod, isReady } from './pods';
import { isStartAbandoned, readPendingStarts } from './pendingStarts';

const DEFAULT_TRACK = 'stable';

/** Options of {@link KubernetesRuntime.create}. @public */
export interface KubernetesRuntimeOptions {
  /** `pluginLifecycle.runtime.kubernetes`, read by readKubernetesRuntimeConfig. */
  config: KubernetesRuntimeConfig;
  /** The client configuration (loadKubeConfig). */
  kubeConfig: KubeConfig;
  /** How long a start waits for a ready pod (default 5 minutes). */
  startTimeoutMs?: number;
  /** How often the cluster is looked at while waiting (default 500 ms). */
  pollIntervalMs?: number;
  /**
   * Pods of running instances that die on their own are seen by a watch
   * while someone listens to exits; this is how often they are also read,
   * as a safety net for missed events (default 60 s).
   */
  watchIntervalMs?: number;
  /** Where watch failures and recoveries are told. */
  logger?: LoggerService;
  /** The watch's retry waits after a failure (default 1 s doubling to 30 s). */
  watchRetry?: { initialMs?: number; maxMs?: number };
}

/** A pod of a set as an instance. @public */
export interface KubernetesInstance extends RuntimeInstance {
  podName: string;
  namespace: string;
  ready: boolean;
  track: string;
  version: string;
}

/**
 * The `kubernetes` runtime: each plugin version in a track is a Deployment
 * (the artifact's image, the instances' environment from a Secret, our
 * probes as container probes, resources) and a Service, labelled
 * `app.kubernetes.io/managed-by: plugin-lifecycle` and with the plugin,
 * version and track. An instance of the backend is one ready pod of that
 * Deployment: starting one scales the Deployment up by one and labels the
 * new ready pod with the instance's id; stopping one takes that pod out of
 * the selector (so the ReplicaSet lets go of exactly it), scales down by
 * one and deletes the pod. The runtime only ever changes or deletes
 * objects that carry its managed-by label and the plugin's labels.
 *
 * Partial (issue #17): see the module's README for what is missing.
 *
 * @public
 */
export class KubernetesRuntime implements PluginRuntime {
  readonly type = 'kubernetes';
  readonly #config: KubernetesRuntimeConfig;
  readonly #kc: KubeConfig;
  readonly #core: CoreV1Api;
  readonly #sets: InstanceSets;
  readonly #pods: InstancePods;
  /** Instances this process started or adopted, and their exits. */
  readonly #exits: InstanceExits;
  readonly #checkedNamespaces = new Set<string>();
  readonly #startTimeoutMs: number;

  static create(options: KubernetesRuntimeOptions): KubernetesRuntime {
    return new KubernetesRuntime(options);
  }

  private constructor(options: KubernetesRuntimeOptions) {
    this.#config = options.config;
    this.#kc = options.kubeConfig;
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#startTimeoutMs = options.startTimeoutMs ?? 5 * 60_000;
    this.#sets = new InstanceSets({
      apps: options.kubeConfig.makeApiClient(AppsV1Api),
      core: this.#core,
    });
    this.#pods = new InstancePods({
      core: this.#core,
      sets: this.#sets,
      startTimeoutMs: this.#startTimeoutMs,
      pollMs: options.pollIntervalMs ?? 500,
    });
    this.#exits = new InstanceExits({
      kubeConfig: options.kubeConfig,
      pods: this.#pods,
      resyncMs: options.watchIntervalMs ?? 60_000,
      logger: options.logger,
      retry: options.watchRetry,
    });
  }

  #namespace(pluginId: string): string {
    return namespaceForPlugin(this.#config, pluginId);
  }

  /**
   * Checks the artifact and that the runtime's identity may do all it does
   * in the plugin's namespace (one error naming every missing right), and
   * creates a per-plugin namespace. The image is pulled by the cluster when
   * a pod starts: nothing to copy here.
   */
  async install(request: RuntimeInstallRequest): Promise<RuntimeInstallResult> {
    const { artifact } = request;
    if (artifact.type !== 'image') {
      throw new InputError(
        `The kubernetes runtime needs an artifact of type 'image', not '${artifact.type}'`,
      );
    }
    const namespace = this.#namespace(request.pluginId);
    await this.#prepareNamespace(namespace);
    return { location: imageOf(artifact.image, request.version) };
  }

  async #prepareNamespace(namespace: string): Promise<void> {
    if (this.#checkedNamespaces.has(namespace)) return;
    const perPlugin = this.#config.namespaces === 'per-plugin';
    await assertRights(this.#kc, namespace, { createNamespace: perPlugin });
    if (perPlugin) {
      try {
        await this.#core.createNamespace({
          body: {
            metadata: {
              name: namespace,
              labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
            },
          },
        });
      } catch (error) {
        if (!isStatus(error, 409)) {
          throw clusterError(error, `creating namespace ${namespace}`);
        }
      }
    }
    this.#checkedNamespaces.add(namespace);
  }

  /**
   * Removes every Deployment, Service and Secret of the plugin's version
   * (all tracks) that carries our labels; their pods go with them (the
   * garbage collector). Objects without our managed-by label are left.
   */
  async uninstall(request: {
    pluginId: string;
    version: string;
  }): Promise<void> {
    await this.removeObjects({
      pluginId: request.pluginId,
      version: request.version,
    });
  }

  /**
   * Deletes the objects of a plugin (one version, or one track of it, when
   * given) that this runtime created; returns their `Kind/name`s.
   */
  async removeObjects(selector: {
    pluginId: string;
    version?: string;
    track?: string;
  }): Promise<string[]> {
    return this.#sets.remove(this.#namespace(selector.pluginId), selector);
  }

  /**
   * Starts one instance: makes sure the set's Secret (the environment),
   * Deployment and Service exist, scales the Deployment up by one and waits
   * for a ready pod that no instance has yet, which becomes this instance.
   * A pod that cannot pull its image or crash-loops, or pods the cluster
   * refuses (quota), fail the start with the cluster's message; the
   * Deployment is scaled back down then.
   */
  async startInstance(request: RuntimeStartRequest): Promise<RuntimeInstance> {
    const { artifact } = request;
    if (artifact.type !== 'image') {
      throw new InputError(
        `The kubernetes runtime needs an artifact of type 'image', not '${artifact.type}'`,
      );
    }
    const namespace = this.#namespace(request.pluginId);
    await this.#prepareNamespace(namespace);
    const spec: InstanceSetSpec = {
      pluginId: request.pluginId,
      version: request.version,
      track: request.track ?? DEFAULT_TRACK,
      image: imageOf(artifact.image, request.version),
      command: artifact.command,
      args: artifact.args,
      port: artifact.port ?? DEFAULT_PORT,
      probes: request.probes,
      resources: request.resources,
    };
    const env = { ...request.env };
    // Per instance; the template sets it from the pod's name.
    delete env.PLUGIN_INSTANCE_ID;
    await this.#sets.applySecret(namespace, spec, env);
    await this.#sets.ensureService(namespace, spec);
    // The start is written on the Deployment until it has its pod: a
    // backend killed in between leaves it for the next one to take back.
    await this.#sets.scaleBy(namespace, spec, +1, { add: request.instanceId });
    try {
      const pod = await this.#pods.claimReady(
        namespace,
        spec,
        request.instanceId,
        request.signal,
      );
      await this.#sets.scaleBy(namespace, spec, 0, {
        remove: request.instanceId,
      });
      // Known (and watched for exits) once it has its pod.
      this.#exits.track(request.instanceId, request.pluginId, namespace);
      return {
        instanceId: request.instanceId,
        host: pod.status!.podIP!,
        port: spec.port,
        protocol: 'http',
      };
    } catch (error) {
      this.#exits.untrack(request.instanceId);
      await this.#sets
        .scaleBy(namespace, spec, -1, { remove: request.instanceId })
        .catch(() => undefined);
      throw error;
    }
  }

  /**
   * Stops one instance: its pod leaves the selector (the ReplicaSet lets go
   * of it and the Service stops sending to it), the Deployment is scaled
   * down by one (to 0 with the last instance; the Deployment stays until
   * uninstall), and the pod is deleted with the grace period.
   */
  async stopInstance(request: RuntimeStopRequest): Promise<RuntimeStopResult> {
    const namespace =
      this.#exits.get(request.instanceId)?.namespace ??
      this.#namespace(request.pluginId);
    await this.#exits.stopping(request.instanceId, request.pluginId, () =>
      this.#pods.stop(namespace, request.instanceId, request.gracePeriodMs),
    );
    return { exitCode: null, signal: null, forced: false };
  }

  /**
   * Moves instances to another track (a promotion): see
   * {@link InstancePods.setTrack}.
   */
  async setInstanceTrack(request: RuntimeTrackRequest): Promise<void> {
    if (request.instanceIds.length === 0) return;
    await this.#pods.setTrack(
      this.#exits.get(request.instanceIds[0])?.namespace ??
        this.#namespace(request.pluginId),
      request,
    );
  }

  /**
   * The plugin's pods that are instances (claimed by a start), with their
   * pod IP, port, readiness, version and track.
   */
  async listInstances(pluginId: string): Promise<KubernetesInstance[]> {
    const namespace = this.#namespace(pluginId);
    let pods: V1Pod[];
    try {
      pods = (
        await this.#core.listNamespacedPod({
          namespace,
          labelSelector: selectorString({
            [MANAGED_BY_LABEL]: MANAGED_BY,
            [PLUGIN_LABEL]: labelValue(pluginId),
          }),
        })
      ).items;
    } catch (error) {
      throw clusterError(error, `listing pods of ${pluginId}`);
    }
    return pods
      .filter(
        p =>
          p.metadata?.labels?.[INSTANCE_LABEL] &&
          p.metadata.labels[SERVING_LABEL] &&
          !p.metadata.deletionTimestamp,
      )
      .map(p => {
        const container = p.spec?.containers?.[0];
        return {
          instanceId: p.metadata!.labels![INSTANCE_LABEL],
          host: p.status?.podIP ?? '',
          port: container?.ports?.[0]?.containerPort ?? DEFAULT_PORT,
          protocol: 'http',
          podName: p.metadata!.name!,
          namespace,
          ready: isReady(p),
          version:
            p.metadata?.annotations?.[VERSION_LABEL] ??
            p.metadata!.labels![VERSION_LABEL],
          track: p.metadata!.labels![TRACK_LABEL],
        };
      });
  }

  /**
   * Whether the instance's pod exists, is not being deleted, has not ended
   * and is not failing (crash loop, image pull back-off). Readiness is not
   * asked: a pod failing its readiness probe for a while still runs, and
   * the health monitor judges it.
   */
  async isAlive(instanceId: string): Promise<boolean> {
    const namespace =
      this.#exits.get(instanceId)?.namespace ?? this.#config.namespace;
    const pod = await this.#pods.find(namespace, instanceId);
    return !!pod && isAlivePod(pod);
  }

  /**
   * The instance's pod as a readiness verdict, with the cluster's reason
   * when not ready. The module's `kubernetes-pod` probe asks this, so the
   * health monitor, discovery and deployments follow what the cluster sees,
   * also where the backend cannot reach pod IPs.
   */
  podReadiness(
    pluginId: string,
    instanceId: string,
  ): Promise<{ ok: boolean; message: string }> {
    return this.#pods.readiness(
      this.#exits.get(instanceId)?.namespace ?? this.#namespace(pluginId),
      instanceId,
    );
  }

  /**
   * Exits: expected for instances this runtime stopped; unexpected, once,
   * for running instances whose pod died on its own (crash loop, image pull
   * back-off, ended, evicted, deleted by someone else), with the pod's state
   * as output. While someone listens, the pods of the namespaces holding
   * known instances are watched ({@link PodWatch}), and read again every
   * `watchIntervalMs` and after the watch recovers from a failure.
   */
  onInstanceExit(listener: (exit: RuntimeInstanceExit) => void): () => void {
    return this.#exits.subscribe(listener);
  }

  /**
   * Pods outlive the backend: with `leaveRunning` nothing is stopped, for
   * the next backend to adopt; otherwise the instances this process started
   * are stopped.
   */
  async shutdown(options: {
    gracePeriodMs: number;
    leaveRunning?: boolean;
  }): Promise<void> {
    this.#exits.shutdown();
    if (options.leaveRunning) return;
    for (const [instanceId, { pluginId }] of this.#exits.all()) {
      await this.stopInstance({
        pluginId,
        instanceId,
        gracePeriodMs: options.gracePeriodMs,
      });
    }
  }

  /** Takes over an instance whose pod still exists and is alive (see isAlive). */
  async adoptInstance(instance: RecordedRuntimeInstance): Promise<boolean> {
    const namespace = this.#namespace(instance.pluginId);
    const pod = await this.#pods.find(namespace, instance.instanceId);
    if (!pod || !isAlivePod(pod)) return false;
    this.#exits.track(instance.instanceId, instance.pluginId, namespace);
    return true;
  }

  /**
   * Takes back the starts gone backends left in flight (pendingStarts.ts),
   * in the shared namespace and the namespaces this process used: a start
   * whose pod was claimed stops that pod, one without scales its Deployment
   * back down. Returns the instance ids taken back.
   */
  async reapOrphans(): Promise<string[]> {
    const namespaces = new Set(this.#checkedNamespaces);
    if (this.#config.namespaces === 'shared') {
      namespaces.add(this.#config.namespace);
    }
    const reaped: string[] = [];
    for (const namespace of namespaces) {
      for (const deployment of await this.#sets.list(namespace)) {
        const starts = readPendingStarts(deployment.metadata?.annotations);
        for (const [instanceId, start] of Object.entries(starts)) {
          if (
            !isStartAbandoned(start, { startTimeoutMs: this.#startTimeoutMs })
          ) {
            continue;
          }
          // Stopping a claimed pod scales the Deployment down by itself.
          const stopped = await this.#pods.stop(namespace, instanceId, 0);
          await this.#sets.scaleBy(
            namespace,
            { name: deployment.metadata!.name! },
            stopped ? 0 : -1,
            { remove: instanceId },
          );
          reaped.push(instanceId);
        }
      }
    }
    return reaped;
  }

  /** Stops the pod of an instance a gone backend started. */
  async reapOrphan(
    instance: Omit<RecordedRuntimeInstance, 'host' | 'port' | 'protocol'>,
  ): Promise<boolean> {
    return this.#pods.stop(
      this.#namespace(instance.pluginId),
      instance.instanceId,
      0,
    );
  }
}
