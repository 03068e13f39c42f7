import {
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1ContainerStatus,
  type V1Pod,
  type V1Taint,
} from '@kubernetes/client-node';
import { isKubeError } from './errors';

/**
 * What the stand-in makes of a pod scheduled to its node, in place of a real
 * kubelet running its containers.
 * - `ready`: Running, every container running and ready (the default).
 * - `running`: Running but not ready (a readiness probe that keeps failing).
 * - `waiting`: containers waiting with `reason`, e.g. `CrashLoopBackOff`
 *   (phase Running, restarts counted) or `ImagePullBackOff` / `ErrImagePull`
 *   (phase Pending).
 * - `ignore`: leave the pod as the scheduler left it (Pending, no status).
 */
export type PodBehaviour =
  | { state: 'ready' }
  | { state: 'running' }
  | {
      state: 'waiting';
      reason: string;
      message?: string;
      phase?: 'Pending' | 'Running';
      restartCount?: number;
    }
  | { state: 'ignore' };

/** Options of {@link KubeletStandIn.start}. */
export interface KubeletStandInOptions {
  /** A client configuration allowed to write nodes, leases and pod status (the admin's). */
  kubeConfig: KubeConfig;
  /** Default `standin-node-<n>`. */
  nodeName?: string;
  /** Default: every pod becomes ready. Asked again on every pass, so it may change over time. */
  podBehaviour?: (pod: V1Pod) => PodBehaviour;
  /** How often pods are looked at (default 250 ms). */
  intervalMs?: number;
  /** Node capacity (default 16 CPUs, 64Gi memory, 110 pods). */
  capacity?: { cpu?: string; memory?: string; pods?: string };
  /** Labels of the Node besides kubernetes.io/hostname and kubernetes.io/os. */
  labels?: Record<string, string>;
  /** Taints of the Node, e.g. to keep all but a test's own pods off a misbehaving node. */
  taints?: V1Taint[];
}

/**
 * A MicroTime (Lease renewTime, Event eventTime) as 1.20 parses it: exactly
 * six fractional digits. client-node 2.x serializes a Date with three, which
 * the apiserver refuses (400 "cannot parse ... as .000000"); strings pass as they are.
 */
function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const HEARTBEAT_MS = 10_000;
let nodeCounter = 0;

/**
 * Pod and node addresses come from 198.18.0.0/15 (RFC 2544, benchmarking;
 * never routed). Kubernetes refuses loopback pod IPs in Endpoints, and nothing
 * listens at these addresses: tests cannot send traffic to pods.
 */
const NODE_IP = '198.18.0.1';
function podIp(n: number): string {
  return `198.19.${Math.floor(n / 250) % 256}.${(n % 250) + 2}`;
}

/**
 * Stands in for a kubelet, which this machine cannot run: registers a Node
 * that stays Ready (status heartbeats and a Lease in kube-node-lease, so the
 * node lifecycle controller does not taint it), marks pods the scheduler binds
 * to it Running/Ready through the status subresource (as {@link PodBehaviour}
 * says), and finishes pods being deleted (a kubelet's final delete with grace
 * period 0), since without it terminating pods would stay forever.
 *
 * No container runs: images are not pulled, commands not started, probes not
 * executed, and pod IPs are unroutable.
 */
export class KubeletStandIn {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly ips = new Map<string, string>();
  private readonly patched = new Map<string, string>();
  private nextIp = 0;
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  private lastHeartbeat = 0;
  private lastError: unknown;

  private constructor(
    private readonly options: KubeletStandInOptions,
    /** The Node's name. */
    readonly nodeName: string,
  ) {
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.coordination = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /** Registers the Node, makes it Ready, and starts looking after its pods. */
  static async start(options: KubeletStandInOptions): Promise<KubeletStandIn> {
    nodeCounter += 1;
    const kubelet = new KubeletStandIn(
      options,
      options.nodeName ?? `standin-node-${nodeCounter}`,
    );
    await kubelet.register();
    kubelet.loop = kubelet.run();
    return kubelet;
  }

  /** The last error of a pass, if any (the loop keeps going; tests may assert on it). */
  get error(): unknown {
    return this.lastError;
  }

  private async register(): Promise<void> {
    const capacity = {
      cpu: this.options.capacity?.cpu ?? '16',
      memory: this.options.capacity?.memory ?? '64Gi',
      pods: this.options.capacity?.pods ?? '110',
    };
    await this.core.createNode({
      body: {
        metadata: {
          name: this.nodeName,
          labels: {
            'kubernetes.io/hostname': this.nodeName,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            ...this.options.labels,
          },
        },
        spec: { taints: this.options.taints },
      },
    });
    await this.coordination.createNamespacedLease({
      namespace: 'kube-node-lease',
      body: {
        metadata: { name: this.nodeName },
        spec: {
          holderIdentity: this.nodeName,
          leaseDurationSeconds: 40,
          renewTime: microTime() as any,
        },
      },
    });
    await this.core.patchNodeStatus(
      {
        name: this.nodeName,
        body: {
          status: {
            capacity,
            allocatable: capacity,
            addresses: [
              { type: 'InternalIP', address: NODE_IP },
              { type: 'Hostname', address: this.nodeName },
            ],
            daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
            nodeInfo: {
              architecture: 'amd64',
              operatingSystem: 'linux',
              kubeletVersion: 'v1.20.2-standin',
              kubeProxyVersion: 'v1.20.2-standin',
              containerRuntimeVersion: 'standin://0',
              kernelVersion: 'standin',
              osImage: 'kubelet stand-in (no containers run)',
              machineID: this.nodeName,
              systemUUID: this.nodeName,
              bootID: this.nodeName,
            },
            conditions: this.nodeConditions(),
          },
        },
      },
      mergePatch,
    );
    this.lastHeartbeat = Date.now();
  }

  private nodeConditions() {
    const now = new Date().toISOString();
    const condition = (type: string, status: string, reason: string) => ({
      type,
      status,
      reason,
      message: 'kubelet stand-in',
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    return [
      condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
      condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
      condition('PIDPressure', 'False', 'KubeletHasSufficientPID'),
      condition('Ready', 'True', 'KubeletReady'),
    ];
  }

  private async heartbeat(): Promise<void> {
    if (Date.now() - this.lastHeartbeat < HEARTBEAT_MS) return;
    this.lastHeartbeat = Date.now();
    await this.coordination.patchNamespacedLease(
      {
        namespace: 'kube-node-lease',
        name: this.nodeName,
        body: { spec: { renewTime: microTime() } },
      },
      mergePatch,
    );
    // Strategic merge keeps each condition's lastTransitionTime meaningful enough for tests.
    await this.core.patchNodeStatus(
      {
        name: this.nodeName,
        body: { status: { conditions: this.nodeConditions() } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  }

  private async run(): Promise<void> {
    const interval = this.options.intervalMs ?? 250;
    while (this.running) {
      try {
        await this.heartbeat();
        await this.pass();
        this.lastError = undefined;
      } catch (error) {
        this.lastError = error;
      }
      if (!this.running) break;
      await new Promise(resolve => setTimeout(resolve, interval));
    }
  }

  /** One look at the node's pods; exposed so tests can wait for a settled state. */
  async pass(): Promise<void> {
    const pods = await this.core.listPodForAllNamespaces({
      fieldSelector: `spec.nodeName=${this.nodeName}`,
    });
    const seen = new Set<string>();
    for (const pod of pods.items) {
      const uid = pod.metadata?.uid ?? '';
      seen.add(uid);
      if (pod.metadata?.deletionTimestamp) {
        await this.finishDeletion(pod);
        continue;
      }
      const behaviour = this.options.podBehaviour?.(pod) ?? { state: 'ready' };
      if (behaviour.state === 'ignore') continue;
      const key = JSON.stringify(behaviour);
      if (this.patched.get(uid) === key) continue;
      await this.core.patchNamespacedPodStatus(
        {
          name: pod.metadata!.name!,
          namespace: pod.metadata!.namespace!,
          body: { status: this.podStatus(pod, behaviour) },
        },
        mergePatch,
      );
      this.patched.set(uid, key);
    }
    for (const uid of this.patched.keys()) {
      if (!seen.has(uid)) this.patched.delete(uid);
    }
    for (const uid of this.ips.keys()) {
      if (!seen.has(uid)) this.ips.delete(uid);
    }
  }

  private async finishDeletion(pod: V1Pod): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        // In the body too: the apiserver takes a body's options over the query's.
        gracePeriodSeconds: 0,
        body: {
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata!.uid },
        },
      });
    } catch (error) {
      // Gone already, or a new pod of the same name (precondition failed).
      if (!isKubeError(error, 404) && !isKubeError(error, 409)) throw error;
    }
  }

  private podStatus(
    pod: V1Pod,
    behaviour: Exclude<PodBehaviour, { state: 'ignore' }>,
  ) {
    const uid = pod.metadata!.uid!;
    let ip = this.ips.get(uid);
    if (!ip) {
      ip = podIp(this.nextIp++);
      this.ips.set(uid, ip);
    }
    const now = new Date().toISOString();
    const started = pod.status?.startTime ?? now;
    const ready = behaviour.state === 'ready';
    const phase =
      behaviour.state === 'waiting' ? behaviour.phase ?? 'Running' : 'Running';
    const containerStatuses: V1ContainerStatus[] = (
      pod.spec?.containers ?? []
    ).map(c => ({
      name: c.name,
      image: c.image ?? '',
      imageID:
        behaviour.state === 'waiting' && phase === 'Pending'
          ? ''
          : `standin://${c.image}`,
      containerID:
        behaviour.state === 'waiting' && phase === 'Pending'
          ? undefined
          : `standin://${uid}/${c.name}`,
      ready,
      started: behaviour.state !== 'waiting',
      restartCount:
        behaviour.state === 'waiting' ? behaviour.restartCount ?? 0 : 0,
      state:
        behaviour.state === 'waiting'
          ? {
              waiting: { reason: behaviour.reason, message: behaviour.message },
            }
          : { running: { startedAt: started as any } },
    }));
    const condition = (type: string, status: boolean, reason?: string) => ({
      type,
      status: status ? 'True' : 'False',
      reason: status ? undefined : reason,
      lastProbeTime: null,
      lastTransitionTime: now,
    });
    return {
      phase,
      hostIP: NODE_IP,
      podIP: ip,
      podIPs: [{ ip }],
      startTime: started,
      conditions: [
        condition('Initialized', true),
        condition('Ready', ready, 'ContainersNotReady'),
        condition('ContainersReady', ready, 'ContainersNotReady'),
        condition('PodScheduled', true),
      ],
      initContainerStatuses: (pod.spec?.initContainers ?? []).map(c => ({
        name: c.name,
        image: c.image ?? '',
        imageID: `standin://${c.image}`,
        containerID: `standin://${uid}/${c.name}`,
        ready: true,
        restartCount: 0,
        state: {
          terminated: {
            exitCode: 0,
            reason: 'Completed',
            startedAt: started,
            finishedAt: started,
          },
        },
      })),
      containerStatuses,
    };
  }

  /** Stops looking after pods (they keep their last status). */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
