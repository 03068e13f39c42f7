import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { ConflictError } from '@backstage/errors';
import type { RuntimeTrackRequest } from '@internal/plugin-lifecycle-node';
import { clusterError, isStatus, KubernetesWorkloadError } from './errors';
import { ignoreNotFound, InstanceSets, mergePatch } from './InstanceSets';
import {
  INSTANCE_LABEL,
  InstanceSetSpec,
  labelValue,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  selectorString,
  SERVING_LABEL,
  setName,
  setSelector,
  TRACK_LABEL,
  WORKLOAD_LABEL,
} from './objects';
import { isReady, podFailure, sleep } from './pods';

/**
 * The pods that are instances: a start claims a ready pod of its set by
 * labelling it with the instance's id, a stop releases exactly that pod
 * from its ReplicaSet before the set scales down, a promotion relabels its
 * track, and the health monitor asks for its readiness.
 */
export class InstancePods {
  readonly #core: CoreV1Api;
  readonly #sets: InstanceSets;
  readonly #startTimeoutMs: number;
  readonly #pollMs: number;

  constructor(options: {
    core: CoreV1Api;
    sets: InstanceSets;
    startTimeoutMs: number;
    pollMs: number;
  }) {
    this.#core = options.core;
    this.#sets = options.sets;
    this.#startTimeoutMs = options.startTimeoutMs;
    this.#pollMs = options.pollMs;
  }

  async claimReady(
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
      const refused = await this.#sets.replicaFailure(namespace, name);
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

  async find(
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

  async stop(
    namespace: string,
    instanceId: string,
    gracePeriodMs: number,
  ): Promise<boolean> {
    const pod = await this.find(namespace, instanceId);
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
          await this.#sets.scaleDownSetOf(namespace, labels);
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

  /**
   * Moves instances to another track: their pods' track label changes (not
   * in any selector, so the ReplicaSet keeps them), and a set all of whose
   * instances moved has its Deployment, Service and Secret relabelled too.
   * The pod template keeps the track the set was made for: changing it
   * would replace every pod.
   */
  async setTrack(
    namespace: string,
    request: RuntimeTrackRequest,
  ): Promise<void> {
    const track = labelValue(request.track);
    const sets = new Set<string>();
    try {
      for (const instanceId of request.instanceIds) {
        const pod = await this.find(namespace, instanceId);
        if (!pod) continue;
        const labels = pod.metadata?.labels ?? {};
        if (labels[WORKLOAD_LABEL]) sets.add(labels[WORKLOAD_LABEL]);
        if (labels[TRACK_LABEL] === track) continue;
        await this.#core.patchNamespacedPod(
          {
            name: pod.metadata!.name!,
            namespace,
            body: { metadata: { labels: { [TRACK_LABEL]: track } } },
          },
          mergePatch,
        );
      }
      for (const name of sets) {
        const pods = await this.#core.listNamespacedPod({
          namespace,
          labelSelector: selectorString({
            [MANAGED_BY_LABEL]: MANAGED_BY,
            [WORKLOAD_LABEL]: name,
          }),
        });
        const instances = pods.items.filter(
          p =>
            p.metadata?.labels?.[INSTANCE_LABEL] &&
            p.metadata.labels[SERVING_LABEL] &&
            !p.metadata.deletionTimestamp,
        );
        if (instances.some(p => p.metadata!.labels![TRACK_LABEL] !== track)) {
          continue;
        }
        await this.#sets.relabel(namespace, name, track);
      }
    } catch (error) {
      if (error instanceof ConflictError) throw error;
      throw clusterError(
        error,
        `moving ${request.instanceIds.join(', ')} to track ${request.track}`,
      );
    }
  }

  /**
   * The instance's pod as a readiness verdict: ready when its Ready
   * condition is true (the kubelet's readiness probe passed), with the
   * cluster's reason otherwise. The `kubernetes-pod` probe of the health
   * monitor asks this (through the runtime), so discovery and deployments follow what the cluster
   * sees, also where the backend cannot reach pod IPs.
   */
  async readiness(
    namespace: string,
    instanceId: string,
  ): Promise<{ ok: boolean; message: string }> {
    const pod = await this.find(namespace, instanceId);
    if (!pod) {
      return {
        ok: false,
        message: `no pod of ${instanceId} in namespace ${namespace}`,
      };
    }
    const name = `pod ${namespace}/${pod.metadata?.name}`;
    if (isReady(pod)) return { ok: true, message: `${name} is ready` };
    const failure = podFailure(pod);
    if (failure) return { ok: false, message: failure };
    const condition = (pod.status?.conditions ?? []).find(
      c => c.type === 'Ready',
    );
    const why = [condition?.reason, condition?.message]
      .filter(Boolean)
      .join(': ');
    return {
      ok: false,
      message: `${name} is not ready (${pod.status?.phase ?? 'no phase'}${
        why ? `, ${why}` : ''
      })`,
    };
  }
}
