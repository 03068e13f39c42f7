import { EventEmitter } from 'node:events';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { ConflictError, InputError } from '@backstage/errors';
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
} from '@internal/plugin-lifecycle-node';
import { KubernetesRuntimeConfig, namespaceForPlugin } from './config';
import { assertRights } from './KubernetesAccess';
import { clusterError, isStatus, KubernetesWorkloadError } from './errors';
import {
  DEFAULT_PORT,
  deploymentObject,
  INSTANCE_LABEL,
  InstanceSetKey,
  InstanceSetSpec,
  labelValue,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  PLUGIN_LABEL,
  secretObject,
  selectorString,
  serviceObject,
  SERVING_LABEL,
  setName,
  setSelector,
  TRACK_LABEL,
  VERSION_LABEL,
} from './objects';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const DEFAULT_TRACK = 'stable';

/**
 * Container states that mean the pod will not become ready by waiting:
 * the image cannot be had, the container keeps crashing or cannot be made.
 */
const FAILING_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

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
   * How often the pods of running instances are looked at for ones that
   * died on their own (default 5 s), while someone listens to exits.
   */
  watchIntervalMs?: number;
}

/** A pod of a set as an instance. @public */
export interface KubernetesInstance extends RuntimeInstance {
  podName: string;
  namespace: string;
  ready: boolean;
  track: string;
  version: string;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

function isReady(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    pod.status?.phase === 'Running' &&
    !!pod.status?.podIP &&
    (pod.status?.conditions ?? []).some(
      c => c.type === 'Ready' && c.status === 'True',
    )
  );
}

function isAlivePod(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    pod.status?.phase !== 'Failed' &&
    pod.status?.phase !== 'Succeeded' &&
    !podFailure(pod)
  );
}

/** A container of the pod in a state that will not heal by waiting, as a message. */
export function podFailure(pod: V1Pod): string | undefined {
  for (const status of [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ]) {
    const waiting = status.state?.waiting;
    if (waiting?.reason && FAILING_REASONS.has(waiting.reason)) {
      return `pod ${pod.metadata?.name} container ${status.name}: ${
        waiting.reason
      }${waiting.message ? ` (${waiting.message})` : ''}${
        status.restartCount ? `, ${status.restartCount} restarts` : ''
      }`;
    }
  }
  return undefined;
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
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;
  readonly #events = new EventEmitter();
  readonly #startTimeoutMs: number;
  readonly #pollMs: number;
  /** Instances this process started or adopted: id -> plugin and namespace. */
  readonly #known = new Map<string, { pluginId: string; namespace: string }>();
  readonly #checkedNamespaces = new Set<string>();
  readonly #watchIntervalMs: number;
  #watchTimer: NodeJS.Timeout | undefined;
  #watching = false;

  static create(options: KubernetesRuntimeOptions): KubernetesRuntime {
    return new KubernetesRuntime(options);
  }

  private constructor(options: KubernetesRuntimeOptions) {
    this.#config = options.config;
    this.#kc = options.kubeConfig;
    this.#apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#startTimeoutMs = options.startTimeoutMs ?? 5 * 60_000;
    this.#pollMs = options.pollIntervalMs ?? 500;
    this.#watchIntervalMs = options.watchIntervalMs ?? 5_000;
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
    return { location: artifact.image };
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
    const namespace = this.#namespace(selector.pluginId);
    const labels: Record<string, string> = {
      [MANAGED_BY_LABEL]: MANAGED_BY,
      [PLUGIN_LABEL]: labelValue(selector.pluginId),
    };
    if (selector.version) labels[VERSION_LABEL] = labelValue(selector.version);
    if (selector.track) labels[TRACK_LABEL] = labelValue(selector.track);
    const labelSelector = selectorString(labels);
    const removed: string[] = [];
    const opts = (name: string) => ({
      name,
      namespace,
      propagationPolicy: 'Background',
      body: { propagationPolicy: 'Background' },
    });
    try {
      const deployments = await this.#apps.listNamespacedDeployment({
        namespace,
        labelSelector,
      });
      for (const d of deployments.items) {
        await ignoreNotFound(
          this.#apps.deleteNamespacedDeployment(opts(d.metadata!.name!)),
        );
        removed.push(`Deployment/${d.metadata!.name}`);
      }
      const services = await this.#core.listNamespacedService({
        namespace,
        labelSelector,
      });
      for (const s of services.items) {
        await ignoreNotFound(
          this.#core.deleteNamespacedService(opts(s.metadata!.name!)),
        );
        removed.push(`Service/${s.metadata!.name}`);
      }
      const secrets = await this.#core.listNamespacedSecret({
        namespace,
        labelSelector,
      });
      for (const s of secrets.items) {
        await ignoreNotFound(
          this.#core.deleteNamespacedSecret(opts(s.metadata!.name!)),
        );
        removed.push(`Secret/${s.metadata!.name}`);
      }
      // Released pods of stopped instances (no longer the ReplicaSet's).
      const pods = await this.#core.listNamespacedPod({
        namespace,
        labelSelector,
      });
      for (const p of pods.items) {
        if (p.metadata?.ownerReferences?.length) continue;
        await ignoreNotFound(
          this.#core.deleteNamespacedPod(opts(p.metadata!.name!)),
        );
        removed.push(`Pod/${p.metadata!.name}`);
      }
    } catch (error) {
      throw clusterError(
        error,
        `removing ${selector.pluginId}'s objects in namespace ${namespace}`,
      );
    }
    return removed;
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
      image: artifact.image,
      command: artifact.command,
      args: artifact.args,
      port: artifact.port ?? DEFAULT_PORT,
      probes: request.probes,
      resources: request.resources,
    };
    const env = { ...request.env };
    // Per instance; the template sets it from the pod's name.
    delete env.PLUGIN_INSTANCE_ID;
    await this.#applySecret(namespace, spec, env);
    await this.#ensureService(namespace, spec);
    await this.#scaleBy(namespace, spec, +1);
    try {
      const pod = await this.#claimReadyPod(
        namespace,
        spec,
        request.instanceId,
        request.signal,
      );
      // Known (and watched for exits) once it has its pod.
      this.#known.set(request.instanceId, {
        pluginId: request.pluginId,
        namespace,
      });
      return {
        instanceId: request.instanceId,
        host: pod.status!.podIP!,
        port: spec.port,
        protocol: 'http',
      };
    } catch (error) {
      this.#known.delete(request.instanceId);
      await this.#scaleBy(namespace, spec, -1).catch(() => undefined);
      throw error;
    }
  }

  async #applySecret(
    namespace: string,
    key: InstanceSetKey,
    env: Record<string, string>,
  ): Promise<void> {
    const body = secretObject(key, env);
    const name = body.metadata!.name!;
    try {
      try {
        await this.#core.createNamespacedSecret({ namespace, body });
        return;
      } catch (error) {
        if (!isStatus(error, 409)) throw error;
      }
      const existing = await this.#core.readNamespacedSecret({
        name,
        namespace,
      });
      assertOurs(existing.metadata?.labels, `Secret ${namespace}/${name}`);
      // New pods read the current configuration; running ones keep theirs.
      await this.#core.replaceNamespacedSecret({
        name,
        namespace,
        body: {
          ...body,
          metadata: {
            ...body.metadata,
            resourceVersion: existing.metadata?.resourceVersion,
          },
        },
      });
    } catch (error) {
      if (error instanceof ConflictError) throw error;
      throw clusterError(error, `writing Secret ${namespace}/${name}`);
    }
  }

  async #ensureService(namespace: string, spec: InstanceSetSpec) {
    const body = serviceObject(spec);
    const name = body.metadata!.name!;
    try {
      await this.#core.createNamespacedService({ namespace, body });
    } catch (error) {
      if (!isStatus(error, 409)) {
        throw clusterError(error, `creating Service ${namespace}/${name}`);
      }
      const existing = await this.#core
        .readNamespacedService({ name, namespace })
        .catch(e => {
          throw clusterError(e, `reading Service ${namespace}/${name}`);
        });
      assertOurs(existing.metadata?.labels, `Service ${namespace}/${name}`);
    }
  }

  /**
   * Creates the Deployment with one replica, or changes its replicas by
   * `delta` (never below 0), with the resourceVersion it read so that two
   * backends scaling at once do not lose a step (409: read again).
   */
  async #scaleBy(
    namespace: string,
    spec: InstanceSetSpec,
    delta: number,
  ): Promise<V1Deployment | undefined> {
    const name = setName(spec);
    for (let attempt = 0; ; attempt++) {
      try {
        let existing: V1Deployment | undefined;
        try {
          existing = await this.#apps.readNamespacedDeployment({
            name,
            namespace,
          });
        } catch (error) {
          if (!isStatus(error, 404)) throw error;
        }
        if (!existing) {
          if (delta <= 0) return undefined;
          return await this.#apps.createNamespacedDeployment({
            namespace,
            body: deploymentObject(spec, delta),
          });
        }
        assertOurs(
          existing.metadata?.labels,
          `Deployment ${namespace}/${name}`,
        );
        const replicas = Math.max(0, (existing.spec?.replicas ?? 0) + delta);
        return await this.#apps.patchNamespacedDeployment(
          {
            name,
            namespace,
            body: {
              metadata: { resourceVersion: existing.metadata?.resourceVersion },
              spec: { replicas },
            },
          },
          mergePatch,
        );
      } catch (error) {
        if (error instanceof ConflictError) throw error;
        if ((isStatus(error, 409) || isStatus(error, 404)) && attempt < 5) {
          continue;
        }
        throw clusterError(error, `scaling Deployment ${namespace}/${name}`);
      }
    }
  }

  async #claimReadyPod(
    namespace: string,
    spec: InstanceSetSpec,
    instanceId: string,
    signal?: AbortSignal,
  ): Promise<V1Pod> {
    const name = setName(spec);
    const deadline = Date.now() + this.#startTimeoutMs;
    const labelSelector = selectorString(setSelector(spec));
    let lastState = 'no pod yet';
    for (;;) {
      if (signal?.aborted) {
        throw new Error(`starting ${instanceId} was cancelled`);
      }
      let pods: V1Pod[];
      try {
        pods = (
          await this.#core.listNamespacedPod({ namespace, labelSelector })
        ).items;
      } catch (error) {
        throw clusterError(error, `listing pods of ${namespace}/${name}`);
      }
      const free = pods
        .filter(p => !p.metadata?.labels?.[INSTANCE_LABEL])
        .sort((a, b) =>
          String(a.metadata?.creationTimestamp).localeCompare(
            String(b.metadata?.creationTimestamp),
          ),
        );
      const ready = free.find(isReady);
      if (ready) {
        const claimed = await this.#claim(namespace, ready, instanceId);
        if (claimed) return claimed;
        continue;
      }
      const failures = free.map(podFailure).filter(Boolean);
      if (failures.length > 0) {
        throw new KubernetesWorkloadError(
          `kubernetes: Deployment ${namespace}/${name} cannot start ${instanceId}: ${failures[0]}`,
        );
      }
      const refused = await this.#replicaFailure(namespace, name);
      if (refused) {
        throw new KubernetesWorkloadError(
          `kubernetes: Deployment ${namespace}/${name} cannot create pods for ${instanceId}: ${refused}`,
        );
      }
      lastState = free.length
        ? `pods ${free
            .map(p => `${p.metadata?.name} ${p.status?.phase ?? 'new'}`)
            .join(', ')}`
        : 'no pod yet';
      if (Date.now() > deadline) {
        throw new KubernetesWorkloadError(
          `kubernetes: no ready pod of Deployment ${namespace}/${name} for ${instanceId} within ${Math.round(
            this.#startTimeoutMs / 1000,
          )} s (${lastState})`,
        );
      }
      await sleep(this.#pollMs);
    }
  }

  /**
   * Labels a ready pod as the instance, on condition that nobody changed it
   * since it was read (another start claiming it loses with 409).
   */
  async #claim(
    namespace: string,
    pod: V1Pod,
    instanceId: string,
  ): Promise<V1Pod | undefined> {
    try {
      return await this.#core.patchNamespacedPod(
        {
          name: pod.metadata!.name!,
          namespace,
          body: {
            metadata: {
              resourceVersion: pod.metadata?.resourceVersion,
              labels: { [INSTANCE_LABEL]: labelValue(instanceId) },
            },
          },
        },
        mergePatch,
      );
    } catch (error) {
      if (isStatus(error, 409) || isStatus(error, 404)) return undefined;
      throw clusterError(
        error,
        `labelling pod ${namespace}/${pod.metadata?.name} as ${instanceId}`,
      );
    }
  }

  /**
   * The ReplicaFailure condition of the Deployment or its ReplicaSets: the
   * ReplicaSet controller could not create pods (exceeded quota, forbidden
   * by admission), with the apiserver's message.
   */
  async #replicaFailure(
    namespace: string,
    name: string,
  ): Promise<string | undefined> {
    try {
      const deployment = await this.#apps.readNamespacedDeployment({
        name,
        namespace,
      });
      const condition = (deployment.status?.conditions ?? []).find(
        c => c.type === 'ReplicaFailure' && c.status === 'True',
      );
      if (condition && !isTransient(condition.message)) {
        return condition.message ?? condition.reason;
      }
      const sets = await this.#apps.listNamespacedReplicaSet({
        namespace,
        labelSelector: selectorString(
          deployment.spec?.selector?.matchLabels ?? {},
        ),
      });
      for (const set of sets.items) {
        const failure = (set.status?.conditions ?? []).find(
          c => c.type === 'ReplicaFailure' && c.status === 'True',
        );
        if (failure && !isTransient(failure.message)) {
          return failure.message ?? failure.reason;
        }
      }
    } catch (error) {
      if (isStatus(error, 404)) return `the Deployment is gone`;
      throw clusterError(error, `reading Deployment ${namespace}/${name}`);
    }
    return undefined;
  }

  async #instancePod(
    namespace: string,
    instanceId: string,
  ): Promise<V1Pod | undefined> {
    try {
      const pods = await this.#core.listNamespacedPod({
        namespace,
        labelSelector: selectorString({
          [MANAGED_BY_LABEL]: MANAGED_BY,
          [INSTANCE_LABEL]: labelValue(instanceId),
        }),
      });
      return pods.items.find(p => !p.metadata?.deletionTimestamp);
    } catch (error) {
      throw clusterError(error, `looking up the pod of ${instanceId}`);
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
      this.#known.get(request.instanceId)?.namespace ??
      this.#namespace(request.pluginId);
    const stopped = await this.#stopPod(
      namespace,
      request.instanceId,
      request.gracePeriodMs,
    );
    this.#known.delete(request.instanceId);
    if (stopped) {
      const exit: RuntimeInstanceExit = {
        pluginId: request.pluginId,
        instanceId: request.instanceId,
        exitCode: null,
        signal: null,
        expected: true,
        output: '',
      };
      this.#events.emit('exit', exit);
    }
    return { exitCode: null, signal: null, forced: false };
  }

  async #stopPod(
    namespace: string,
    instanceId: string,
    gracePeriodMs: number,
  ): Promise<boolean> {
    const pod = await this.#instancePod(namespace, instanceId);
    if (!pod) return false;
    const labels = pod.metadata?.labels ?? {};
    const name = pod.metadata!.name!;
    try {
      // Released first: scaling down first would let the ReplicaSet pick
      // any pod, maybe another instance's. A replacement it may create in
      // between is newer and not ready, which it removes first on scale-down.
      if (labels[SERVING_LABEL]) {
        await this.#core.patchNamespacedPod(
          {
            name,
            namespace,
            body: { metadata: { labels: { [SERVING_LABEL]: null } } },
          },
          mergePatch,
        );
        const owner = pod.metadata?.ownerReferences?.find(
          o => o.kind === 'ReplicaSet',
        );
        if (owner) {
          await this.#waitReleased(namespace, name, owner.uid);
          await this.#scaleDeploymentOfPod(namespace, labels);
        }
      }
      await ignoreNotFound(
        this.#core.deleteNamespacedPod({
          name,
          namespace,
          gracePeriodSeconds: Math.ceil(gracePeriodMs / 1000),
          body: { gracePeriodSeconds: Math.ceil(gracePeriodMs / 1000) },
        }),
      );
    } catch (error) {
      if (error instanceof ConflictError) throw error;
      throw clusterError(error, `stopping ${instanceId} (pod ${name})`);
    }
    return true;
  }

  /**
   * Waits until the ReplicaSet has seen that the pod left its selector (it
   * removes its owner reference). Scaling down before that lets it pick
   * among pods that still include this one, and it may remove another
   * instance's pod instead.
   */
  async #waitReleased(namespace: string, name: string, ownerUid: string) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      let pod: V1Pod;
      try {
        pod = await this.#core.readNamespacedPod({ name, namespace });
      } catch (error) {
        if (isStatus(error, 404)) return;
        throw error;
      }
      if (!pod.metadata?.ownerReferences?.some(o => o.uid === ownerUid)) {
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `the ReplicaSet did not let go of pod ${namespace}/${name} within 30 s; not scaling down, so that no other instance's pod is removed`,
        );
      }
      // Quickly: the replacement it creates meanwhile must still be
      // starting (not ready) when it picks a pod to remove.
      await sleep(25);
    }
  }

  async #scaleDeploymentOfPod(
    namespace: string,
    labels: Record<string, string>,
  ): Promise<void> {
    const deployments = await this.#apps.listNamespacedDeployment({
      namespace,
      labelSelector: selectorString({
        [MANAGED_BY_LABEL]: MANAGED_BY,
        [PLUGIN_LABEL]: labels[PLUGIN_LABEL],
        [VERSION_LABEL]: labels[VERSION_LABEL],
        [TRACK_LABEL]: labels[TRACK_LABEL],
      }),
    });
    const deployment = deployments.items[0];
    if (!deployment) return;
    const spec = {
      pluginId: labels[PLUGIN_LABEL],
      version: labels[VERSION_LABEL],
      track: labels[TRACK_LABEL],
    };
    // The Deployment's own name, not one derived from (sanitized) labels.
    for (let attempt = 0; ; attempt++) {
      const current = await this.#apps.readNamespacedDeployment({
        name: deployment.metadata!.name!,
        namespace,
      });
      try {
        await this.#apps.patchNamespacedDeployment(
          {
            name: deployment.metadata!.name!,
            namespace,
            body: {
              metadata: { resourceVersion: current.metadata?.resourceVersion },
              spec: {
                replicas: Math.max(0, (current.spec?.replicas ?? 0) - 1),
              },
            },
          },
          mergePatch,
        );
        return;
      } catch (error) {
        if (isStatus(error, 409) && attempt < 5) continue;
        throw clusterError(
          error,
          `scaling down ${spec.pluginId} ${spec.version} ${spec.track}`,
        );
      }
    }
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
      this.#known.get(instanceId)?.namespace ?? this.#config.namespace;
    const pod = await this.#instancePod(namespace, instanceId);
    return !!pod && isAlivePod(pod);
  }

  /**
   * Exits: expected for instances this runtime stopped; unexpected for
   * pods of running instances found dead (see isAlive) by a look every
   * `watchIntervalMs` while someone listens.
   */
  onInstanceExit(listener: (exit: RuntimeInstanceExit) => void): () => void {
    this.#events.on('exit', listener);
    this.#startWatching();
    return () => {
      this.#events.off('exit', listener);
      if (this.#events.listenerCount('exit') === 0) this.#stopWatching();
    };
  }

  #startWatching() {
    if (this.#watchTimer) return;
    this.#watchTimer = setInterval(() => {
      if (this.#watching) return;
      this.#watching = true;
      this.#checkInstances()
        .catch(() => undefined) // the next look tries again
        .finally(() => {
          this.#watching = false;
        });
    }, this.#watchIntervalMs);
    this.#watchTimer.unref();
  }

  #stopWatching() {
    if (this.#watchTimer) clearInterval(this.#watchTimer);
    this.#watchTimer = undefined;
  }

  /**
   * Reports instances this process runs whose pod died without being asked
   * to (crash loop, image gone, deleted or evicted) as unexpected exits,
   * with the pod's failure as the output, once each.
   */
  async #checkInstances(): Promise<void> {
    for (const [instanceId, { pluginId, namespace }] of [...this.#known]) {
      const pod = await this.#instancePod(namespace, instanceId);
      if (pod && isAlivePod(pod)) continue;
      if (!this.#known.has(instanceId)) continue; // stopped meanwhile
      this.#known.delete(instanceId);
      const exit: RuntimeInstanceExit = {
        pluginId,
        instanceId,
        exitCode: null,
        signal: null,
        expected: false,
        output: pod
          ? podFailure(pod) ??
            `pod ${pod.metadata?.name} ${pod.status?.phase ?? 'ended'}`
          : `the instance's pod is gone from namespace ${namespace}`,
      };
      this.#events.emit('exit', exit);
    }
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
    this.#stopWatching();
    if (options.leaveRunning) return;
    for (const [instanceId, { pluginId }] of [...this.#known]) {
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
    const pod = await this.#instancePod(namespace, instance.instanceId);
    if (!pod || !isAlivePod(pod)) return false;
    this.#known.set(instance.instanceId, {
      pluginId: instance.pluginId,
      namespace,
    });
    return true;
  }

  /** Stops the pod of an instance a gone backend started. */
  async reapOrphan(
    instance: Omit<RecordedRuntimeInstance, 'host' | 'port' | 'protocol'>,
  ): Promise<boolean> {
    return this.#stopPod(
      this.#namespace(instance.pluginId),
      instance.instanceId,
      0,
    );
  }
}

/**
 * A refusal the ReplicaSet controller gets past by retrying: a new
 * namespace's `default` service account not made yet (the ServiceAccount
 * admission plugin refuses pods until then).
 */
function isTransient(message: string | undefined): boolean {
  return /error looking up service account|serviceaccount "[^"]*" not found/i.test(
    message ?? '',
  );
}

function assertOurs(
  labels: Record<string, string> | undefined,
  what: string,
): void {
  if (labels?.[MANAGED_BY_LABEL] !== MANAGED_BY) {
    throw new ConflictError(
      `kubernetes: ${what} exists and is not managed by plugin-lifecycle (no ${MANAGED_BY_LABEL}=${MANAGED_BY} label); the runtime does not touch it`,
    );
  }
}

async function ignoreNotFound(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (!isStatus(error, 404)) throw error;
  }
}
