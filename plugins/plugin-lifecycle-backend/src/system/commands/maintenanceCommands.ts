import { LoggerService } from '@backstage/backend-plugin-api';
import { ConfigMaintenance } from '../../engines/configuration/ConfigMaintenance';
import { ConfigurationManager } from '../../engines/configuration/ConfigurationManager';
import { CrashRestarter } from '../../engines/lifecycle/CrashRestarter';
import { Orchestrator } from '../../engines/orchestrator/Orchestrator';
import { Reconciler } from '../../engines/orchestrator/Reconciler';
import { RuntimeRegistry } from '../../engines/runtime/RuntimeRegistry';

/** Options of {@link MaintenanceCommands.create}. */
export interface MaintenanceCommandsOptions {
  /** Stops the deployment controller (what it runs resumes on the next start or another replica). */
  stopDeployments?: () => Promise<void>;
  logger: LoggerService;
  reconciler: Reconciler;
  configuration: ConfigurationManager;
  configMaintenance: ConfigMaintenance;
  crashRestarter: CrashRestarter;
  orchestrator: Orchestrator;
  runtimes: RuntimeRegistry;
  /** Stops hearing the runtimes' instance exits (the wiring subscribed). */
  stopFollowingExits: () => void;
  /** pluginLifecycle.runtime.process.stopGracePeriod */
  stopGracePeriodMs: number;
  /** pluginLifecycle.shutdown.stopInstances */
  stopInstances: boolean;
}

/** What the plugin schedules and its shutdown: reconciliation, configuration maintenance, the orderly stop. */
export class MaintenanceCommands {
  readonly #o: MaintenanceCommandsOptions;

  static create(options: MaintenanceCommandsOptions): MaintenanceCommands {
    return new MaintenanceCommands(options);
  }

  private constructor(options: MaintenanceCommandsOptions) {
    this.#o = options;
  }

  /** Brings recorded state in line with what runs (see {@link Reconciler}). */
  reconcile(): Promise<void> {
    return this.#o.reconciler.reconcile();
  }

  /**
   * Re-seals secrets still sealed with a retired-to-be key and announces
   * secrets due for rotation (the plugin schedules it on one replica).
   */
  async runConfigurationMaintenance(now = new Date()) {
    const result = await this.#o.configMaintenance.run(now);
    if (result.resealed > 0) {
      this.#o.logger.info(
        `re-sealed the secrets of ${
          result.resealed
        } configuration version(s) with key '${
          this.#o.configuration.keyRing.activeKeyId
        }'`,
      );
    }
    return result;
  }

  /**
   * Stops taking work, lets running operations end, then stops every
   * instance, or (`pluginLifecycle.shutdown.stopInstances: false`, the
   * default) leaves them running for the next backend to adopt.
   */
  async shutdown(options: { graceMs?: number } = {}): Promise<void> {
    const { orchestrator, configuration, runtimes, logger } = this.#o;
    this.#o.crashRestarter.stop();
    // A step that fails (its database already gone, say) must not keep the
    // instances from stopping when they are to stop with the backend.
    const step = (name: string, run: () => Promise<void> | void) =>
      Promise.resolve()
        .then(run)
        .catch(error => logger.error(`shutdown: ${name} failed: ${error}`));
    await step('stopping the deployment controller', () =>
      this.#o.stopDeployments?.(),
    );
    // Running operations get what is left of the shutdown's grace period.
    await step('stopping the orchestrator', () =>
      orchestrator.shutdown(options.graceMs),
    );
    await step('stopping the configuration manager', () =>
      configuration.shutdown(),
    );
    this.#o.stopFollowingExits();
    const grace = this.#o.stopGracePeriodMs;
    const leaveRunning = !this.#o.stopInstances;
    await Promise.all(
      runtimes
        .all()
        .map(r => r.shutdown({ gracePeriodMs: grace, leaveRunning })),
    );
  }
}
