import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node';
import { ConflictError } from '@backstage/errors';
import { clusterError, isStatus } from './errors';
import {
  deploymentObject,
  InstanceSetKey,
  InstanceSetSpec,
  labelValue,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  PLUGIN_LABEL,
  secretObject,
  selectorString,
  serviceObject,
  setName,
  TRACK_LABEL,
  VERSION_LABEL,
  WORKLOAD_LABEL,
} from './objects';
import { isTransient } from './pods';
import {
  readPendingStarts,
  STARTING_ANNOTATION,
  startOwner,
} from './pendingStarts';

/** A JSON merge patch (the client's default for patch is a JSON patch). */
export const mergePatch = setHeaderOptions(
  'Content-Type',
  PatchStrategy.MergePatch,
);

/**
 * The cluster objects of instance sets: per plugin, version and track a
 * Deployment, a Service and a Secret (see objects.ts), created, scaled,
 * relabelled and removed here. Every change checks our managed-by label
 * first: an object of someone else's with one of our names is refused
 * (409), never taken over.
 */
export class InstanceSets {
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;

  constructor(options: { apps: AppsV1Api; core: CoreV1Api }) {
    this.#apps = options.apps;
    this.#core = options.core;
  }

  /**
   * Deletes the objects of a plugin (one version, or one track of it, when
   * given) that this runtime created; returns their `Kind/name`s.
   */
  async remove(
    namespace: string,
    selector: { pluginId: string; version?: string; track?: string },
  ): Promise<string[]> {
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

  async applySecret(
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

  async ensureService(namespace: string, spec: InstanceSetSpec) {
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
   * backends scaling at once do not lose a step (409: read again). `starts`
   * adds or removes a start in flight (pendingStarts.ts) in the same write.
   * A `{ name }` target only changes an existing Deployment.
   */
  async scaleBy(
    namespace: string,
    target: InstanceSetSpec | { name: string },
    delta: number,
    starts?: { add?: string; remove?: string },
  ): Promise<V1Deployment | undefined> {
    const spec = 'pluginId' in target ? target : undefined;
    const name = spec ? setName(spec) : (target as { name: string }).name;
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
        const pending = readPendingStarts(existing?.metadata?.annotations);
        if (starts?.remove) delete pending[starts.remove];
        if (starts?.add) {
          pending[starts.add] = {
            owner: startOwner(),
            since: new Date().toISOString(),
          };
        }
        const annotation = Object.keys(pending).length
          ? JSON.stringify(pending)
          : null;
        if (!existing) {
          if (delta <= 0 || !spec) return undefined;
          const body = deploymentObject(spec, delta);
          if (annotation) {
            body.metadata!.annotations = {
              ...body.metadata!.annotations,
              [STARTING_ANNOTATION]: annotation,
            };
          }
          return await this.#apps.createNamespacedDeployment({
            namespace,
            body,
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
              metadata: {
                resourceVersion: existing.metadata?.resourceVersion,
                ...(starts
                  ? { annotations: { [STARTING_ANNOTATION]: annotation } }
                  : {}),
              },
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

  /** Every Deployment in the namespace that carries our managed-by label. */
  async list(namespace: string): Promise<V1Deployment[]> {
    try {
      return (
        await this.#apps.listNamespacedDeployment({
          namespace,
          labelSelector: selectorString({ [MANAGED_BY_LABEL]: MANAGED_BY }),
        })
      ).items;
    } catch (error) {
      throw clusterError(error, `listing Deployments in ${namespace}`);
    }
  }

  /**
   * The ReplicaFailure condition of the Deployment or its ReplicaSets: the
   * ReplicaSet controller could not create pods (exceeded quota, forbidden
   * by admission), with the apiserver's message.
   */
  async replicaFailure(
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

  /** Scales the pod's set (its Deployment) down by one. */
  async scaleDownSetOf(
    namespace: string,
    labels: Record<string, string>,
  ): Promise<void> {
    const name = labels[WORKLOAD_LABEL];
    if (!name) return;
    for (let attempt = 0; ; attempt++) {
      try {
        const current = await this.#apps.readNamespacedDeployment({
          name,
          namespace,
        });
        await this.#apps.patchNamespacedDeployment(
          {
            name,
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
        if (isStatus(error, 404)) return;
        if (isStatus(error, 409) && attempt < 5) continue;
        throw clusterError(
          error,
          `scaling down Deployment ${namespace}/${name}`,
        );
      }
    }
  }

  async relabel(namespace: string, name: string, track: string) {
    const body = { metadata: { labels: { [TRACK_LABEL]: track } } };
    const deployment = await this.#apps.readNamespacedDeployment({
      name,
      namespace,
    });
    assertOurs(deployment.metadata?.labels, `Deployment ${namespace}/${name}`);
    await this.#apps.patchNamespacedDeployment(
      { name, namespace, body },
      mergePatch,
    );
    await ignoreNotFound(
      this.#core.patchNamespacedService({ name, namespace, body }, mergePatch),
    );
    await ignoreNotFound(
      this.#core.patchNamespacedSecret(
        { name: `${name}-env`, namespace, body },
        mergePatch,
      ),
    );
  }
}

/** Refuses an object without our managed-by label (409). */
export function assertOurs(
  labels: Record<string, string> | undefined,
  what: string,
): void {
  if (labels?.[MANAGED_BY_LABEL] !== MANAGED_BY) {
    throw new ConflictError(
      `kubernetes: ${what} exists and is not managed by plugin-lifecycle (no ${MANAGED_BY_LABEL}=${MANAGED_BY} label); the runtime does not touch it`,
    );
  }
}

/** Deleting what is gone already is done. */
export async function ignoreNotFound(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (!isStatus(error, 404)) throw error;
  }
}
