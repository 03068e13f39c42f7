import { LoggerService } from '@backstage/backend-plugin-api';
import { SignalsService } from '@backstage/plugin-signals-node';
import {
  Deployment,
  Operation,
  PLUGIN_LIFECYCLE_FLEET_CHANNEL,
  PLUGIN_LIFECYCLE_NOTICE_CHANNEL,
  PluginLifecycleSignal,
  pluginLifecycleSignalChannel,
} from '@internal/plugin-lifecycle-common';
import type { SystemEvents } from '../../events/SystemEvents';
import { SystemEventEnvelope } from '../../events/eventMap';
import { CoalescerTimers, SignalCoalescer } from './SignalCoalescer';
import { AddressedNotice, deploymentNotice, operationNotice } from './noticeOf';
import { SignalTarget, signalOf } from './signalOf';

/** Options of {@link UiSignals.create}. */
export interface UiSignalsOptions {
  events: SystemEvents;
  signals: SignalsService;
  logger: LoggerService;
  /** This replica: health verdicts another replica probed are its to signal. */
  replicaId: string;
  /** Reads an ended operation: who started it and what it was. */
  getOperation(operationId: string): Promise<Operation>;
  /** At most one signal per plugin and kind within this time (200 ms). */
  windowMs?: number;
  now?: () => Date;
  timers?: CoalescerTimers;
}

const OPERATION_ENDS = new Set([
  'orchestrator:operationCompleted',
  'orchestrator:operationFailed',
  'orchestrator:operationCancelled',
]);
const DEPLOYMENT_ENDS = new Set([
  'deploymentManager:deploymentCompleted',
  'deploymentManager:deploymentFailed',
  'deploymentManager:deploymentRolledBack',
  // An abort of a deployment that never moved ends it at once.
  'deploymentManager:deploymentActionTaken',
]);
/** How many ended deployments are remembered so that each is told once. */
const NOTICED_MEMORY = 500;

/**
 * Pushes the system's events to the UI through Backstage signals: a
 * {@link PluginLifecycleSignal} on the plugin's channel and on the fleet
 * channel when something about a plugin changed (coalesced, so a rollout or
 * a probe sweep cannot flood the websocket), and a notice on the notice
 * channel to the user who started an operation or a deployment when it ends.
 *
 * Signals go to every signed-in user (broadcast): they say only that
 * something changed, and the UI reloads through the API, which checks the
 * user's permissions. Without the signals backend plugin the signals
 * service publishes to the events service, where nobody listens.
 */
export class UiSignals {
  readonly #o: UiSignalsOptions;
  readonly #coalescer: SignalCoalescer;
  readonly #now: () => Date;
  readonly #noticed = new Set<string>();
  readonly #listener = (envelope: SystemEventEnvelope) =>
    this.#onEvent(envelope);

  static create(options: UiSignalsOptions) {
    return new UiSignals(options);
  }

  private constructor(options: UiSignalsOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#coalescer = new SignalCoalescer({
      windowMs: options.windowMs ?? 200,
      send: target => this.#signal(target),
      timers: options.timers,
    });
  }

  start() {
    this.#o.events.on('systemEvent', this.#listener);
  }

  stop() {
    this.#o.events.off('systemEvent', this.#listener);
    this.#coalescer.stop();
  }

  #onEvent({ component, event, args }: SystemEventEnvelope) {
    const name = `${component}:${event}`;
    const payload = args[0];
    const target = signalOf(name, payload, this.#o.replicaId);
    if (target) this.#coalescer.push(target);
    if (OPERATION_ENDS.has(name)) {
      const { operationId } = payload as { operationId: string };
      this.#o
        .getOperation(operationId)
        .then(operation =>
          this.#notify(operationNotice(operation, this.#now())),
        )
        .catch(error =>
          this.#o.logger.warn(
            `no notice for operation ${operationId}: reading it failed: ${error}`,
          ),
        );
    } else if (DEPLOYMENT_ENDS.has(name)) {
      const { deployment } = payload as { deployment: Deployment };
      // The same end can be announced twice (an action, then the controller).
      const key = `${deployment.id}:${deployment.phase}:${
        deployment.finishedAt ?? deployment.updatedAt
      }`;
      const addressed = deploymentNotice(deployment, this.#now());
      if (addressed && !this.#noticed.has(key)) {
        this.#remember(key);
        this.#notify(addressed);
      }
    }
  }

  #signal(target: SignalTarget) {
    const message: PluginLifecycleSignal = {
      ...target,
      at: this.#now().toISOString(),
    };
    for (const channel of [
      pluginLifecycleSignalChannel(target.pluginId),
      PLUGIN_LIFECYCLE_FLEET_CHANNEL,
    ]) {
      this.#publish(
        { recipients: { type: 'broadcast' }, channel, message: { ...message } },
        `${target.kind} signal of ${target.pluginId}`,
      );
    }
  }

  #notify(addressed: AddressedNotice | undefined) {
    if (!addressed) return;
    this.#publish(
      {
        recipients: { type: 'user', entityRef: addressed.recipient },
        channel: PLUGIN_LIFECYCLE_NOTICE_CHANNEL,
        message: { ...addressed.notice },
      },
      `notice to ${addressed.recipient}`,
    );
  }

  #publish(signal: Parameters<SignalsService['publish']>[0], what: string) {
    this.#o.signals
      .publish(signal)
      .catch(error =>
        this.#o.logger.warn(`publishing the ${what} failed: ${error}`),
      );
  }

  #remember(key: string) {
    this.#noticed.add(key);
    if (this.#noticed.size > NOTICED_MEMORY) {
      const oldest = this.#noticed.values().next().value;
      if (oldest !== undefined) this.#noticed.delete(oldest);
    }
  }
}
