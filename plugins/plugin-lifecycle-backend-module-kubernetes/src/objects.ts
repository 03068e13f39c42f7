import { createHash } from 'node:crypto';
import type {
  V1Deployment,
  V1Probe,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import type { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import type { RuntimeResources } from '@internal/plugin-lifecycle-node';

/** The label every object the runtime creates carries. @public */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Its value. @public */
export const MANAGED_BY = 'plugin-lifecycle';
/** @public */
export const PLUGIN_LABEL = 'plugin-lifecycle.backstage.io/plugin';
/** @public */
export const VERSION_LABEL = 'plugin-lifecycle.backstage.io/version';
/**
 * The track an instance serves in (`stable`, `canary`, `green` ...). Not part
 * of any selector: a promotion moves a pod to another track by relabelling
 * it, and its ReplicaSet keeps it.
 *
 * @public
 */
export const TRACK_LABEL = 'plugin-lifecycle.backstage.io/track';
/**
 * Which set (Deployment) a pod belongs to: the set's name, fixed for the
 * set's life, in the selector of its Deployment and Service.
 *
 * @public
 */
export const WORKLOAD_LABEL = 'plugin-lifecycle.backstage.io/workload';
/** The backend's instance id, put on the pod the instance is. @public */
export const INSTANCE_LABEL = 'plugin-lifecycle.backstage.io/instance';
/**
 * Part of the Deployment's and Service's selector: a stopped instance's pod
 * loses it, so its ReplicaSet lets go of that very pod (see stopInstance).
 *
 * @public
 */
export const SERVING_LABEL = 'plugin-lifecycle.backstage.io/serving';
/** What Backstage's Kubernetes plugin matches an entity's pods by. @public */
export const KUBERNETES_ID_LABEL = 'backstage.io/kubernetes-id';
/** The exact version (a label value cannot hold every semver, e.g. `+build`). */
export const VERSION_ANNOTATION = 'plugin-lifecycle.backstage.io/version';

/**
 * The custom probe that reads an instance's pod readiness from the cluster
 * (`method: custom`, `custom: { name: 'kubernetes-pod' }`); the module
 * registers it.
 *
 * @public
 */
export const KUBERNETES_POD_PROBE = 'kubernetes-pod';

/**
 * The probe a plugin on this runtime gets when its install gives none: the
 * pod's readiness as the cluster reports it (the kubelet runs the container
 * probes), so the health monitor, discovery and deployments follow the
 * cluster also where the backend cannot reach pod IPs.
 */
export const POD_READINESS_PROBE: ProbeDefinition = {
  name: 'pod-ready',
  type: 'readiness',
  method: 'custom',
  custom: { name: KUBERNETES_POD_PROBE },
  periodSeconds: 5,
  timeoutSeconds: 5,
  failureThreshold: 2,
  successThreshold: 1,
};

/** The container's port when the artifact names none. */
export const DEFAULT_PORT = 8080;

/** Which workload: a plugin's version in a track. @public */
export interface InstanceSetKey {
  pluginId: string;
  version: string;
  track: string;
}

/** A label value as Kubernetes takes it (63 characters, [A-Za-z0-9._-], alphanumeric ends). */
export function labelValue(value: string): string {
  let v = value.replace(/[^A-Za-z0-9._-]/g, '_');
  if (v.length > 63) v = `${v.slice(0, 54)}-${hash(value).slice(0, 8)}`;
  return v.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
}

function hash(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * The name of a set's Deployment, Service and Secret: `pl-<plugin>-<version>-<track>`,
 * a DNS-1035 label (a Service name), shortened with a hash when too long.
 */
export function setName(key: InstanceSetKey): string {
  const slug = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '');
  const full = `pl-${slug(key.pluginId)}-${slug(key.version)}-${slug(
    key.track,
  )}`;
  if (full.length <= 50) return full;
  const h = hash(`${key.pluginId}\n${key.version}\n${key.track}`).slice(0, 10);
  return `${full.slice(0, 39).replace(/-+$/, '')}-${h}`;
}

/** The labels of everything of a set (and the selector of its objects, with serving). */
export function setLabels(key: InstanceSetKey): Record<string, string> {
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [PLUGIN_LABEL]: labelValue(key.pluginId),
    [VERSION_LABEL]: labelValue(key.version),
    [TRACK_LABEL]: labelValue(key.track),
    [WORKLOAD_LABEL]: setName(key),
    [KUBERNETES_ID_LABEL]: labelValue(key.pluginId),
  };
}

/** The selector of the set's pods that serve. */
export function setSelector(key: InstanceSetKey): Record<string, string> {
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [PLUGIN_LABEL]: labelValue(key.pluginId),
    [WORKLOAD_LABEL]: setName(key),
    [SERVING_LABEL]: 'true',
  };
}

/** `a=b,c=d` */
export function selectorString(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const seconds = (s: number | undefined) =>
  s === undefined ? undefined : Math.max(1, Math.ceil(s));

/**
 * Our probe definitions as container probes. HTTP and TCP probes map one to
 * one; gRPC probes are not in Kubernetes 1.20's API, and exec probes run on the
 * backend's host (an operator-allowed command), not in the container, so
 * those stay with the backend's health monitor only.
 */
export function containerProbes(
  probes: ProbeDefinition[] | undefined,
  port: number,
): {
  startupProbe?: V1Probe;
  readinessProbe?: V1Probe;
  livenessProbe?: V1Probe;
} {
  const result: {
    startupProbe?: V1Probe;
    readinessProbe?: V1Probe;
    livenessProbe?: V1Probe;
  } = {};
  for (const probe of probes ?? []) {
    let handler: Partial<V1Probe>;
    if (probe.method === 'http' && probe.http) {
      handler = {
        httpGet: {
          path: probe.http.path,
          port: probe.http.port ?? port,
          httpHeaders: probe.http.headers
            ? Object.entries(probe.http.headers).map(([name, value]) => ({
                name,
                value,
              }))
            : undefined,
        } as V1Probe['httpGet'],
      };
    } else if (probe.method === 'tcp') {
      handler = { tcpSocket: { port: probe.tcp?.port ?? port } as any };
    } else {
      continue;
    }
    const converted: V1Probe = {
      ...handler,
      initialDelaySeconds: probe.initialDelaySeconds
        ? Math.ceil(probe.initialDelaySeconds)
        : undefined,
      periodSeconds: seconds(probe.periodSeconds),
      timeoutSeconds: seconds(probe.timeoutSeconds),
      // Kubernetes requires 1 for liveness and startup probes.
      successThreshold:
        probe.type === 'readiness' ? probe.successThreshold : undefined,
      failureThreshold: probe.failureThreshold,
    };
    const field = `${String(probe.type).toLowerCase()}Probe` as
      | 'startupProbe'
      | 'readinessProbe'
      | 'livenessProbe';
    // A container has one probe of each kind: the first definition wins.
    if (!result[field]) result[field] = converted;
  }
  return result;
}

/** Everything the runtime knows about a set when it creates its objects. */
export interface InstanceSetSpec extends InstanceSetKey {
  image: string;
  command?: string[];
  args?: string[];
  port: number;
  probes?: ProbeDefinition[];
  resources?: RuntimeResources;
}

/**
 * The set's Secret: the instances' environment (the plugin's effective
 * configuration, secrets included), read by the containers through envFrom,
 * so no value is written into the Deployment.
 */
export function secretObject(
  spec: InstanceSetKey,
  env: Record<string, string>,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: `${setName(spec)}-env`,
      labels: setLabels(spec),
      annotations: { [VERSION_ANNOTATION]: spec.version },
    },
    type: 'Opaque',
    stringData: env,
  };
}

/** The set's Deployment, `replicas` pods of the artifact's image. */
export function deploymentObject(
  spec: InstanceSetSpec,
  replicas: number,
): V1Deployment {
  const name = setName(spec);
  const labels = setLabels(spec);
  const resources =
    spec.resources && (spec.resources.cpu || spec.resources.memory)
      ? {
          requests: { ...spec.resources } as Record<string, string>,
          limits: { ...spec.resources } as Record<string, string>,
        }
      : undefined;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      labels,
      annotations: { [VERSION_ANNOTATION]: spec.version },
    },
    spec: {
      replicas,
      selector: { matchLabels: setSelector(spec) },
      template: {
        metadata: {
          labels: { ...labels, [SERVING_LABEL]: 'true' },
          annotations: { [VERSION_ANNOTATION]: spec.version },
        },
        spec: {
          containers: [
            {
              name: 'plugin',
              image: spec.image,
              command: spec.command,
              args: spec.args,
              ports: [{ name: 'http', containerPort: spec.port }],
              envFrom: [{ secretRef: { name: `${name}-env` } }],
              env: [
                // One template serves every instance of the set: the pod's
                // name identifies it (the backend's id is the pod's label).
                {
                  name: 'PLUGIN_INSTANCE_ID',
                  valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
                },
                { name: 'PORT', value: String(spec.port) },
                { name: 'HOST', value: '0.0.0.0' },
              ],
              resources,
              ...containerProbes(spec.probes, spec.port),
            },
          ],
        },
      },
    },
  };
}

/** The set's Service: its serving pods on the artifact's port. */
export function serviceObject(spec: InstanceSetSpec): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: setName(spec),
      labels: setLabels(spec),
      annotations: { [VERSION_ANNOTATION]: spec.version },
    },
    spec: {
      selector: setSelector(spec),
      ports: [{ name: 'http', port: spec.port, targetPort: spec.port as any }],
    },
  };
}

/**
 * The image of a version: `${version}` in a configured image reference
 * (`registry.example.com/hello:${version}`) is the version installed, as in
 * a tarball path, so one configured artifact serves every update.
 */
export function imageOf(image: string, version: string): string {
  return image.split('${version}').join(version);
}
