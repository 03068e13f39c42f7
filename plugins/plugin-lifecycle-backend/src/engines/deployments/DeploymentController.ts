import { errorMessage } from '../lifecycle/ActionSteps';
import { DeploymentRunner } from './DeploymentRunner';
import { DeploymentControllerOptions } from './deploymentTypes';

/** Deployments one replica advances at a time. */
const CLAIM_LIMIT = 8;

/**
 * The reconcile loop of deployments: every `tickMs` each backend replica
 * claims the deployments that are due (a lease in the database, so two
 * replicas never advance one deployment at once, and a deployment whose
 * replica died is taken over when its lease runs out) and advances each
 * from its persisted state. A deployment never holds its plugin's
 * operation slot: it waits in its row, not in a queued operation.
 */
export class DeploymentController {
  readonly #o: DeploymentControllerOptions;
  readonly #runner: DeploymentRunner;
  readonly #running = new Map<
    string,
    { abort: AbortController; done: Promise<void> }
  >();
  #timer?: NodeJS.Timeout;
  #ticking?: Promise<void>;
  #stopped = true;

  private constructor(options: DeploymentControllerOptions) {
    this.#o = options;
    this.#runner = new DeploymentRunner(options);
  }

  static create(options: DeploymentControllerOptions) {
    return new DeploymentController(options);
  }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Looks for due deployments now (after an action or a hand-over). */
  wake() {
    if (this.#stopped) return;
    this.#schedule(0);
  }

  /** Stops claiming; what runs is cut off (another replica or the next start resumes it). */
  async stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const { abort } of this.#running.values()) abort.abort();
    await this.#ticking;
    await Promise.allSettled([...this.#running.values()].map(r => r.done));
  }

  /** One round: claim what is due and start advancing each (not awaited). */
  async tick(): Promise<void> {
    const { store, replicaId, leaseMs } = this.#o;
    const claimed = await store.claimDue(replicaId, {
      leaseMs,
      limit: CLAIM_LIMIT,
    });
    for (const d of claimed) {
      if (this.#running.has(d.id)) continue;
      const abort = new AbortController();
      const done = this.#run(d.id, abort).finally(() =>
        this.#running.delete(d.id),
      );
      this.#running.set(d.id, { abort, done });
    }
  }

  async #run(id: string, abort: AbortController) {
    const { store, replicaId, leaseMs, logger } = this.#o;
    const renewal = setInterval(() => {
      store
        .renewLease(id, replicaId, leaseMs)
        .then(held => {
          if (!held) {
            logger.warn(
              `deployment ${id}: lease lost; another replica carries on`,
            );
            abort.abort();
          }
        })
        .catch(e => logger.warn(`deployment ${id}: renewing the lease: ${e}`));
    }, Math.max(250, Math.floor(leaseMs / 3)));
    try {
      await this.#runner.advance(id, abort.signal);
    } catch (error) {
      logger.error(`deployment ${id}: ${errorMessage(error)}`);
    } finally {
      clearInterval(renewal);
      await store
        .release(id, replicaId)
        .catch(e => logger.warn(`deployment ${id}: releasing: ${e}`));
    }
  }

  #schedule(delayMs: number) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      this.#ticking = this.tick()
        .catch(e =>
          this.#o.logger.warn(`deployment controller: ${errorMessage(e)}`),
        )
        .finally(() => {
          this.#ticking = undefined;
          if (!this.#stopped) this.#schedule(this.#o.tickMs);
        });
    }, delayMs);
    this.#timer.unref?.();
  }
}
