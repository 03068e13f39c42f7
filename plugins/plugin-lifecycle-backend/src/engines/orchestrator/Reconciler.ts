import { LoggerService } from '@backstage/backend-plugin-api';
import { isTransitional } from '@internal/plugin-lifecycle-common';
import {
  PluginRuntime,
  RecordedRuntimeInstance,
} from '@internal/plugin-lifecycle-node';
import { InstanceStore } from '../../database/InstanceStore';
import { OperationStore } from '../../database/OperationStore';
import { PluginStore } from '../../database/PluginStore';
import { LifecycleStateMachine } from '../lifecycle/LifecycleStateMachine';
import { RuntimeRegistry } from '../runtime/RuntimeRegistry';
import { isOwnerGone } from './replicas';

/** Ended instances kept per plugin, newest first (enough for any restart budget's window to count crashes). */
const ENDED_INSTANCES_KEPT = 50;

/**
 * Brings recorded state back in line with reality after replicas went away:
 * running instances whose replica is gone are adopted when their process
 * still runs and answers, else stopped (and their process reaped); process
 * groups gone replicas left unrecorded are stopped; a plugin left in a
 * transitional state with no operation to finish it goes to error; a
 * running plugin with no instance left goes to error and, with auto-recovery,
 * is started again (its desired state is running).
 */
export class Reconciler {
  constructor(
    private readonly o: {
      logger: LoggerService;
      plugins: PluginStore;
      instances: InstanceStore;
      operations: OperationStore;
      stateMachine: LifecycleStateMachine;
      runtimes: RuntimeRegistry;
      replicaId: string;
      autoRecovery: boolean;
      restart: (pluginId: string, tenant: string) => Promise<unknown>;
      /**
       * The plugins with an active deployment: `updating` without an
       * operation is their normal state (the deployment controller ends it).
       */
      deploying?: () => Promise<ReadonlySet<string>>;
    },
  ) {}

  async reconcile(): Promise<void> {
    await this.reconcileInstances();
    await this.#reconcilePlugins();
  }

  /**
   * The instances part alone: adopts or reaps what gone replicas left, and
   * stops unrecorded orphans. Runs before the orchestrator starts, so a
   * resumed operation sees the adopted instances as serving.
   */
  async reconcileInstances(): Promise<void> {
    const { logger, instances } = this.o;
    await instances.pruneEnded(ENDED_INSTANCES_KEPT);
    for (const instance of await instances.listActive()) {
      const ours = instance.owner === this.o.replicaId;
      const gone = ours
        ? !(await this.#alive(instance.runtime, instance.id))
        : isOwnerGone(instance.owner);
      if (!gone) continue;
      const runtime = this.o.runtimes.has(instance.runtime)
        ? this.o.runtimes.get(instance.runtime)
        : undefined;
      const recorded = {
        pluginId: instance.pluginId,
        version: instance.version,
        instanceId: instance.id,
        host: instance.host,
        port: instance.port,
        protocol: instance.protocol,
        pid: instance.pid,
        processGroup: instance.processGroup,
        processStartTime: instance.processStartTime,
      };
      // A backend restart restarts no plugin: what a gone replica left
      // running and still serving is taken over, not replaced.
      if (!ours && runtime?.adoptInstance && instance.status === 'running') {
        if (await this.#adopt(runtime, instance.owner, recorded)) continue;
      }
      const reaped = await runtime?.reapOrphan?.(recorded).catch(() => false);
      await instances.setStatus(instance.id, 'stopped', {
        lastError: `its replica ${instance.owner} is gone${
          reaped ? '; its orphaned process was stopped' : ''
        }`,
      });
    }
    // What gone replicas started and nobody recorded or adopted.
    for (const runtime of this.o.runtimes.all()) {
      await runtime
        .reapOrphans?.()
        .catch(error =>
          logger.warn(
            `reaping orphans of the ${runtime.type} runtime: ${error}`,
          ),
        );
    }
  }

  async #reconcilePlugins(): Promise<void> {
    const { logger, plugins, instances, operations, stateMachine } = this.o;
    // Only a plugin in a transitional state or running may need bringing
    // back. Which of them have an operation queued or running is read after
    // the list, in one query: a plugin whose operation ends meanwhile has
    // changed since it was listed, and the transition below (same state and
    // revision as listed) then leaves it alone.
    const candidates = (await plugins.list()).filter(
      p => isTransitional(p.state) || p.state === 'running',
    );
    const busy = await operations.withUnfinished(candidates.map(p => p.id));
    const deploying = (await this.o.deploying?.()) ?? new Set<string>();
    for (const plugin of candidates) {
      if (busy.has(plugin.id) || deploying.has(plugin.id)) continue;
      let reason: string | undefined;
      if (isTransitional(plugin.state)) {
        reason = `${plugin.state} was interrupted and no operation is left to finish it`;
      } else if (
        plugin.state === 'running' &&
        (await instances.listForPlugin(plugin.id, { activeOnly: true }))
          .length === 0
      ) {
        reason = 'no instance is left running';
      }
      if (!reason) continue;
      try {
        const updated = await stateMachine.transition(plugin, 'error', {
          action: 'recover',
          actor: 'plugin-lifecycle:reconciler',
          reason,
          patch: { lastError: reason },
        });
        if (this.o.autoRecovery && updated.desiredState === 'running') {
          logger.info(`restarting plugin ${plugin.id}: ${reason}`);
          await this.o.restart(plugin.id, plugin.tenant);
        }
      } catch (error) {
        // Another replica got there first; the next round sees its result.
        logger.debug(`reconciling ${plugin.id} skipped: ${error}`);
      }
    }
  }

  /**
   * Claims the instance for this replica, then has the runtime take its
   * process over; false (and the claim undone by the caller's stop) when
   * its process is not the one recorded or does not answer.
   */
  async #adopt(
    runtime: PluginRuntime,
    owner: string,
    recorded: RecordedRuntimeInstance,
  ): Promise<boolean> {
    const { instances, replicaId, logger } = this.o;
    if (!(await instances.claim(recorded.instanceId, owner, replicaId))) {
      return true; // another replica took it over: it is theirs to judge
    }
    const adopted = await runtime.adoptInstance!(recorded).catch(error => {
      logger.warn(`adopting ${recorded.instanceId} failed: ${error}`);
      return false;
    });
    if (adopted) {
      logger.info(
        `adopted instance ${recorded.instanceId} of plugin ${recorded.pluginId} left running by ${owner}`,
      );
    }
    return adopted;
  }

  async #alive(runtimeType: string, instanceId: string) {
    if (!this.o.runtimes.has(runtimeType)) return false;
    return this.o.runtimes.get(runtimeType).isAlive(instanceId);
  }
}
