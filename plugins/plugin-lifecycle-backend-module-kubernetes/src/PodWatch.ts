import {
  CoreV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  type V1Pod,
} from '@kubernetes/client-node';
import type { LoggerService } from '@backstage/backend-plugin-api';

/**
 * A pod as the watch saw it: listed or changed (`add`, `update`), or gone
 * (`delete`, with its last state).
 */
export interface PodEvent {
  type: 'add' | 'update' | 'delete';
  namespace: string;
  pod: V1Pod;
}

/** Options of {@link PodWatch.create}. */
export interface PodWatchOptions {
  kubeConfig: KubeConfig;
  /** Which pods: `key=value,...`. */
  labelSelector: string;
  onEvent(event: PodEvent): void;
  /**
   * A namespace's watch works again after failing: events may have been
   * missed meanwhile, so whoever relies on them looks again.
   */
  onRecovered(namespace: string): void;
  logger?: LoggerService;
  /** Waits between attempts after a failure: doubling from `initialMs` (1 s) up to `maxMs` (30 s). */
  retry?: { initialMs?: number; maxMs?: number };
}

function errorText(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as {
      statusCode?: number;
      code?: unknown;
      message?: string;
    };
    const status =
      e.statusCode ?? (typeof e.code === 'number' ? e.code : undefined);
    return `${status ? `${status} ` : ''}${e.message ?? String(error)}`;
  }
  return String(error);
}

/**
 * A client-node Watch that opens nothing once stopped: ListWatch goes on
 * to watch after a list or a wait it started before being stopped, and
 * would leave that connection open.
 */
class StoppableWatch extends Watch {
  stopped = false;

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    if (this.stopped) {
      done(null);
      return new AbortController();
    }
    const controller = await super.watch(path, queryParams, callback, done);
    if (this.stopped) controller.abort();
    return controller;
  }
}

class NamespaceWatch {
  readonly #namespace: string;
  readonly #options: PodWatchOptions;
  readonly #watch: StoppableWatch;
  readonly #informer: ListWatch<V1Pod>;
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;
  /** Failed attempts in a row. */
  #failures = 0;

  constructor(namespace: string, options: PodWatchOptions) {
    this.#namespace = namespace;
    this.#options = options;
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#watch = new StoppableWatch(options.kubeConfig);
    this.#informer = new ListWatch<V1Pod>(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      this.#watch,
      () =>
        core.listNamespacedPod({
          namespace,
          labelSelector: options.labelSelector,
        }),
      false,
      options.labelSelector,
      undefined,
      // Its wait before reconnecting after the apiserver ended a watch:
      // a timer that neither outlives a stop nor keeps the process up.
      { delayFn: ms => this.#sleep(ms) },
    );
    for (const type of ['add', 'update', 'delete'] as const) {
      this.#informer.on(type, pod => {
        if (!this.#stopped) options.onEvent({ type, namespace, pod });
      });
    }
    this.#informer.on('error', error => this.#failed(error));
  }

  start(): void {
    const failuresBefore = this.#failures;
    this.#informer
      .start()
      .then(() => {
        // Listed and watching, unless this attempt failed too.
        if (this.#stopped || failuresBefore === 0) return;
        if (this.#failures !== failuresBefore) return;
        this.#options.logger?.info(
          `kubernetes: watching pods in namespace ${
            this.#namespace
          } again after ${failuresBefore} failed attempt(s)`,
        );
        this.#failures = 0;
        this.#options.onRecovered(this.#namespace);
      })
      .catch(error => this.#failed(error));
  }

  #failed(error: unknown): void {
    if (this.#stopped) return; // the abort of stop() itself
    this.#failures += 1;
    const message = errorText(error);
    // Once per run of failures, not per attempt.
    if (this.#failures === 1) {
      this.#options.logger?.warn(
        `kubernetes: watching pods in namespace ${
          this.#namespace
        } failed, retrying with backoff: ${message}`,
      );
    } else {
      this.#options.logger?.debug(
        `kubernetes: watching pods in namespace ${
          this.#namespace
        } failed again (attempt ${this.#failures}): ${message}`,
      );
    }
    const initial = this.#options.retry?.initialMs ?? 1_000;
    const max = this.#options.retry?.maxMs ?? 30_000;
    const wait = Math.min(initial * 2 ** (this.#failures - 1), max);
    this.#later(wait, () => this.start());
  }

  cached(): readonly V1Pod[] {
    return this.#informer.list(this.#namespace);
  }

  stop(): void {
    this.#stopped = true;
    this.#watch.stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    void this.#informer.stop();
  }

  #later(ms: number, run: () => void): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#stopped) run();
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  /** Resolves after `ms`, or never once stopped (the watch it leads to would be refused anyway). */
  #sleep(ms: number): Promise<void> {
    return new Promise(resolve => this.#later(ms, resolve));
  }
}

/**
 * Watches the pods matching a label selector, one client-node informer
 * (list, then watch from its resourceVersion) per namespace asked for.
 *
 * The informer itself relists on `410 Gone` (reporting pods that vanished
 * meanwhile as deleted) and reconnects when the apiserver ends a watch; a
 * failed list or watch (apiserver unreachable, refused) stops it, and this
 * class starts it again after a doubling wait, warning once per run of
 * failures and saying when it works again. Stopping leaves no connection or
 * timer behind.
 */
export class PodWatch {
  readonly #options: PodWatchOptions;
  readonly #namespaces = new Map<string, NamespaceWatch>();

  static create(options: PodWatchOptions): PodWatch {
    return new PodWatch(options);
  }

  private constructor(options: PodWatchOptions) {
    this.#options = options;
  }

  /** The namespaces watched. */
  namespaces(): string[] {
    return [...this.#namespaces.keys()];
  }

  /** Starts watching a namespace (nothing when it is watched already). */
  watch(namespace: string): void {
    if (this.#namespaces.has(namespace)) return;
    const watch = new NamespaceWatch(namespace, this.#options);
    this.#namespaces.set(namespace, watch);
    watch.start();
  }

  /** Stops watching a namespace. */
  unwatch(namespace: string): void {
    this.#namespaces.get(namespace)?.stop();
    this.#namespaces.delete(namespace);
  }

  /** The pods of a watched namespace as last seen (empty before the first list). */
  cached(namespace: string): readonly V1Pod[] {
    return this.#namespaces.get(namespace)?.cached() ?? [];
  }

  /** Stops every namespace's watch. */
  stop(): void {
    for (const namespace of this.namespaces()) this.unwatch(namespace);
  }
}
