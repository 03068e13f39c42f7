import { EventEmitter } from 'node:events';
import type { KubeConfig } from '@kubernetes/client-node';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { RuntimeInstanceExit } from '@internal/plugin-lifecycle-node';
import type { InstancePods } from './InstancePods';
import {
  INSTANCE_LABEL,
  labelValue,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  selectorString,
} from './objects';
import { isAlivePod, podExitOutput } from './pods';
import { PodEvent, PodWatch } from './PodWatch';

/**
 * The instances this process runs (started or adopted) and their exits:
 * expected ones the runtime reports when it stops an instance, unexpected
 * ones, once each, when an instance's pod dies on its own. While someone
 * listens, the pods of the namespaces holding known instances are watched
 * ({@link PodWatch}); every known pod is also read every `resyncMs` and
 * after a watch recovers from a failure, for events that were missed.
 */
export class InstanceExits {
  readonly #pods: InstancePods;
  readonly #events = new EventEmitter();
  /** id -> plugin and namespace. */
  readonly #known = new Map<string, { pluginId: string; namespace: string }>();
  /** Instances being stopped: their pod's end is expected. */
  readonly #stopping = new Set<string>();
  readonly #podWatch: PodWatch;
  readonly #resyncMs: number;
  #resyncTimer: NodeJS.Timeout | undefined;
  #resyncing = false;
  #shutDown = false;

  constructor(options: {
    kubeConfig: KubeConfig;
    pods: InstancePods;
    resyncMs: number;
    logger?: LoggerService;
    retry?: { initialMs?: number; maxMs?: number };
  }) {
    this.#pods = options.pods;
    this.#resyncMs = options.resyncMs;
    this.#podWatch = PodWatch.create({
      kubeConfig: options.kubeConfig,
      labelSelector: selectorString({ [MANAGED_BY_LABEL]: MANAGED_BY }),
      onEvent: event => this.#onPodEvent(event),
      onRecovered: () => this.#resync(),
      logger: options.logger,
      retry: options.retry,
    });
  }

  /** The known instance's plugin and namespace. */
  get(instanceId: string) {
    return this.#known.get(instanceId);
  }

  /** The known instances. */
  all() {
    return [...this.#known];
  }

  subscribe(listener: (exit: RuntimeInstanceExit) => void): () => void {
    this.#events.on('exit', listener);
    this.#syncWatches();
    return () => {
      this.#events.off('exit', listener);
      this.#syncWatches();
    };
  }

  /** Stops the watch for good: no unexpected exit is reported any more. */
  shutdown() {
    this.#shutDown = true;
    this.#syncWatches();
  }

  /**
   * Stops an instance with `stop`: its pod ending meanwhile is not a crash;
   * when `stop` says it stopped one, its expected exit is reported.
   */
  async stopping(
    instanceId: string,
    pluginId: string,
    stop: () => Promise<boolean>,
  ): Promise<void> {
    this.#stopping.add(instanceId);
    let stopped: boolean;
    try {
      stopped = await stop();
    } finally {
      this.#stopping.delete(instanceId);
    }
    this.untrack(instanceId);
    if (stopped) {
      this.#emit({ pluginId, instanceId, expected: true, output: '' });
    }
  }

  /** An instance this process now runs (started or adopted). */
  track(instanceId: string, pluginId: string, namespace: string) {
    this.#known.set(instanceId, { pluginId, namespace });
    this.#syncWatches();
    // Died between its claim and now: the watch's events came too early.
    const pod = this.#podWatch
      .cached(namespace)
      .find(
        p => p.metadata?.labels?.[INSTANCE_LABEL] === labelValue(instanceId),
      );
    if (pod && !isAlivePod(pod)) {
      this.#reportExit(instanceId, podExitOutput(pod, namespace));
    }
  }

  /** An instance this process no longer runs. */
  untrack(instanceId: string) {
    this.#known.delete(instanceId);
    this.#syncWatches();
  }

  /** Watches exactly the namespaces of known instances while someone listens. */
  #syncWatches() {
    const listening = !this.#shutDown && this.#events.listenerCount('exit') > 0;
    const wanted = new Set(
      listening ? [...this.#known.values()].map(k => k.namespace) : [],
    );
    for (const namespace of this.#podWatch.namespaces()) {
      if (!wanted.has(namespace)) this.#podWatch.unwatch(namespace);
    }
    for (const namespace of wanted) this.#podWatch.watch(namespace);
    if (listening && !this.#resyncTimer) {
      this.#resyncTimer = setInterval(() => this.#resync(), this.#resyncMs);
      this.#resyncTimer.unref();
    } else if (!listening && this.#resyncTimer) {
      clearInterval(this.#resyncTimer);
      this.#resyncTimer = undefined;
    }
  }

  #onPodEvent({ type, namespace, pod }: PodEvent) {
    const label = pod.metadata?.labels?.[INSTANCE_LABEL];
    if (!label || (type !== 'delete' && isAlivePod(pod))) return;
    for (const [instanceId, known] of this.#known) {
      if (known.namespace === namespace && labelValue(instanceId) === label) {
        this.#reportExit(
          instanceId,
          podExitOutput(pod, namespace, type === 'delete'),
        );
      }
    }
  }

  /** Reports a known instance's unexpected exit, once, unless it is being stopped. */
  #reportExit(instanceId: string, output: string) {
    const known = this.#known.get(instanceId);
    if (!known || this.#stopping.has(instanceId)) return;
    this.untrack(instanceId);
    this.#emit({
      pluginId: known.pluginId,
      instanceId,
      expected: false,
      output,
    });
  }

  #emit(exit: Omit<RuntimeInstanceExit, 'exitCode' | 'signal'>) {
    const full: RuntimeInstanceExit = { ...exit, exitCode: null, signal: null };
    this.#events.emit('exit', full);
  }

  #resync() {
    if (this.#resyncing) return;
    this.#resyncing = true;
    this.#checkInstances()
      .catch(() => undefined) // the watch, or the next look, tries again
      .finally(() => {
        this.#resyncing = false;
      });
  }

  /** Reads the pod of every known instance: the watch's safety net. */
  async #checkInstances(): Promise<void> {
    for (const [instanceId, { namespace }] of [...this.#known]) {
      if (this.#stopping.has(instanceId)) continue;
      const pod = await this.#pods.find(namespace, instanceId);
      if (pod && isAlivePod(pod)) continue;
      this.#reportExit(instanceId, podExitOutput(pod, namespace));
    }
  }
}
