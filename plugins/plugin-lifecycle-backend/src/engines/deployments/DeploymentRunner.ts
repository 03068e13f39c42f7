import {
  DeploymentPhase,
  DeploymentStep,
  DeploymentStepSpec,
  TERMINAL_DEPLOYMENT_PHASES,
} from '@internal/plugin-lifecycle-common';
import type {
  DeploymentPatch,
  DeploymentRecord,
} from '../../database/DeploymentStore';
import { errorMessage } from '../lifecycle/ActionSteps';
import { emitDeploymentEvents } from './deploymentEvents';
import { inDeploymentSpan, stepOutcome } from './deploymentTracing';
import { DeploymentControllerOptions, StepOutcome } from './deploymentTypes';
import { finishDeployment } from './finishDeployment';
import { rollBackDeployment } from './rollbackDeployment';
import { analyse } from './steps/analysisStep';
import { decide, openApproval, pause, smoke, wait } from './steps/gateSteps';
import { scaleSide } from './steps/scaleStep';
import { pinOld, setMatch, setWeight } from './steps/trafficSteps';

/** How often a deployment waiting for a person is looked at (approval timeouts). */
const WAITING_POLL_MS = 2_000;
/** Attempts of a rollback before the deployment is `failed` (a person must look). */
const ROLLBACK_ATTEMPTS = 5;
/** Unexpected errors in one step before the deployment rolls back. */
const STEP_ERRORS = 5;
const RETRY_MS = 2_000;

/**
 * Advances one deployment, claimed by this replica, as far as it can go
 * now: executes its current step and records the outcome, step after step,
 * until it must wait (a window, a person, a pause) or ends. Everything it
 * knows is in the deployment's row, so another replica (or this one after a
 * restart) carries on where it stopped; every step is safe to repeat.
 */
export class DeploymentRunner {
  readonly #o: DeploymentControllerOptions;

  constructor(options: DeploymentControllerOptions) {
    this.#o = options;
  }

  #now() {
    return (this.#o.clock ?? Date.now)();
  }

  async advance(id: string, signal: AbortSignal): Promise<void> {
    const { store, replicaId } = this.#o;
    // The row as this loop last wrote it; read again only after a lost race.
    let known: DeploymentRecord | undefined;
    for (let round = 0; round < 10_000 && !signal.aborted; round++) {
      const d = known ?? (await store.get(id));
      known = undefined;
      if (!d || d.leaseOwner !== replicaId) return;
      const patch = await this.#next(d, signal);
      if (!patch) return;
      const saved = await store.save(d.id, d.revision, patch, {
        owner: replicaId,
      });
      if (!saved) continue; // someone acted on it meanwhile: look again
      known = saved;
      this.#announce(d, saved);
      if (
        TERMINAL_DEPLOYMENT_PHASES.includes(saved.phase) &&
        !TERMINAL_DEPLOYMENT_PHASES.includes(d.phase)
      ) {
        await this.#o
          .onEnded?.(saved)
          .catch(e =>
            this.#o.logger.warn(`deployment ${d.id} ended; ${errorMessage(e)}`),
          );
      }
      if (saved.nextRunAt && Date.parse(saved.nextRunAt) > this.#now()) return;
    }
  }

  /** What to write next, or undefined when there is nothing to do now. */
  async #next(
    d: DeploymentRecord,
    signal: AbortSignal,
  ): Promise<DeploymentPatch | undefined> {
    const nowMs = this.#now();
    switch (d.phase) {
      case 'progressing':
        return this.#progress(d, nowMs, signal);
      case 'rolling-back':
        return this.#rollBack(d, nowMs, signal);
      case 'awaiting-approval':
        return this.#awaitApproval(d, nowMs);
      case 'paused':
        return d.nextRunAt && Date.parse(d.nextRunAt) > nowMs
          ? undefined
          : { nextRunAt: iso(nowMs + WAITING_POLL_MS) };
      default:
        return undefined; // pending (its operation has not run) or ended
    }
  }

  async #progress(
    d: DeploymentRecord,
    nowMs: number,
    signal: AbortSignal,
  ): Promise<DeploymentPatch | undefined> {
    const step = d.steps[d.currentStep];
    if (!step) {
      return { phase: 'succeeded', nextRunAt: undefined };
    }
    if (step.status === 'pending') {
      return {
        steps: replaceStep(d.steps, {
          ...step,
          status: 'running',
          startedAt: iso(nowMs),
        }),
        stepStartedAt: iso(nowMs),
        stepState: { ...d.stepState, step: undefined, errors: 0 },
        nextRunAt: iso(nowMs),
      };
    }
    let outcome: StepOutcome;
    try {
      outcome = await inDeploymentSpan(
        d,
        step,
        () => this.#execute(d, step, nowMs, signal),
        stepOutcome,
      );
    } catch (error) {
      if (signal.aborted) return undefined;
      const errors = Number(d.stepState.errors ?? 0) + 1;
      this.#o.logger.warn(
        `deployment ${d.id} step ${d.currentStep} (${
          step.kind
        }) failed (${errors}/${STEP_ERRORS}): ${errorMessage(error)}`,
      );
      if (errors < STEP_ERRORS) {
        return {
          stepState: { ...d.stepState, errors },
          nextRunAt: iso(nowMs + RETRY_MS),
        };
      }
      outcome = {
        kind: 'fail',
        message: `${step.kind}: ${errorMessage(error)}`,
      };
    }
    if (outcome.kind !== 'wait') {
      // One line per execution that decided something: a step executed
      // twice (by two replicas, or again after a restart) shows here.
      this.#o.logger.info(
        `deployment ${d.id} step ${d.currentStep} (${step.kind}) ${
          outcome.kind
        } on ${this.#o.replicaId}`,
      );
    }
    // The step's end is when it ended, not when it began.
    return this.#record(d, step, outcome, this.#now());
  }

  #execute(
    d: DeploymentRecord,
    step: DeploymentStep,
    nowMs: number,
    signal: AbortSignal,
  ): Promise<StepOutcome> | StepOutcome {
    const o = this.#o;
    const spec = step as DeploymentStepSpec;
    switch (spec.kind) {
      case 'scale':
        return this.#scale(d, spec.side, spec.replicas, signal);
      case 'setWeight':
        return setWeight(o, d, spec.weight);
      case 'setMatch':
        return setMatch(o, d, spec.match);
      case 'analysis':
        return analyse(o, d, spec, nowMs);
      case 'approval':
        return openApproval(d, spec, nowMs);
      case 'pause':
        return pause(d, spec, nowMs);
      case 'wait':
        return wait(d, spec, nowMs);
      case 'smoke':
        return smoke(o, d, spec);
      case 'decide':
        return decide(d, spec);
      case 'finish':
        return finishDeployment(o, d);
      default:
        return {
          kind: 'fail',
          message: `unknown step ${JSON.stringify(spec)}`,
        };
    }
  }

  /** A scale step; for rolling within its progress deadline. */
  async #scale(
    d: DeploymentRecord,
    side: 'new' | 'old',
    replicas: number,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    const pinned = side === 'new' ? await pinOld(this.#o, d) : undefined;
    const current = pinned ? { ...d, traffic: pinned } : d;
    const deadline = d.config.rolling?.progressDeadlineSeconds;
    const bounded =
      d.strategy === 'rolling' && deadline
        ? AbortSignal.any([signal, AbortSignal.timeout(deadline * 1000)])
        : signal;
    const outcome = await scaleSide(this.#o, current, side, replicas, bounded);
    const timedOut = bounded !== signal && bounded.aborted && !signal.aborted;
    const result: StepOutcome = timedOut
      ? {
          kind: 'fail',
          message: `progress deadline of ${deadline} s exceeded while scaling ${
            side === 'new' ? d.toVersion : d.fromVersion
          } to ${replicas}`,
          patch: outcome.patch,
        }
      : outcome;
    return pinned
      ? { ...result, patch: { traffic: pinned, ...result.patch } }
      : result;
  }

  /** The patch that records a step's outcome. */
  #record(
    d: DeploymentRecord,
    step: DeploymentStep,
    outcome: StepOutcome,
    nowMs: number,
  ): DeploymentPatch {
    const base = outcome.patch ?? {};
    const ended = (status: DeploymentStep['status'], message?: string) =>
      replaceStep(d.steps, {
        ...step,
        status,
        finishedAt: iso(nowMs),
        ...(message ? { message } : {}),
      });
    switch (outcome.kind) {
      case 'done': {
        const last = step.kind === 'finish';
        return {
          ...base,
          steps: ended('succeeded', outcome.message),
          currentStep: d.currentStep + 1,
          stepState: { ...(base.stepState ?? d.stepState), step: undefined },
          ...(last
            ? {
                phase: 'succeeded' as DeploymentPhase,
                message: outcome.message,
                nextRunAt: undefined,
              }
            : { nextRunAt: iso(nowMs) }),
        };
      }
      case 'wait':
        return {
          ...base,
          nextRunAt: iso(Math.max(outcome.untilMs, nowMs)),
        };
      case 'fail':
        return {
          ...base,
          steps: ended('failed', outcome.message),
          phase: 'rolling-back',
          message: outcome.message,
          nextRunAt: iso(nowMs),
        };
      case 'revert':
        return {
          ...base,
          steps: ended('succeeded', outcome.message),
          phase: 'rolling-back',
          message: outcome.message,
          nextRunAt: iso(nowMs),
        };
      case 'approval':
        return {
          ...base,
          phase: 'awaiting-approval',
          message: outcome.message,
          nextRunAt: iso(nowMs + WAITING_POLL_MS),
        };
      case 'pause':
        return {
          ...base,
          phase: 'paused',
          message: outcome.message,
          nextRunAt: iso(nowMs + WAITING_POLL_MS),
        };
      default:
        return base;
    }
  }

  async #rollBack(
    d: DeploymentRecord,
    nowMs: number,
    signal: AbortSignal,
  ): Promise<DeploymentPatch | undefined> {
    try {
      const { phase, message } = await inDeploymentSpan(
        d,
        undefined,
        () => rollBackDeployment(this.#o, d, signal),
        r => ({
          outcome: r.phase,
          failure: r.phase === 'failed' ? r.message : undefined,
        }),
      );
      return {
        phase,
        message,
        traffic: { [d.fromVersion]: 100 },
        match: undefined,
        nextRunAt: undefined,
      };
    } catch (error) {
      if (signal.aborted) return undefined;
      const attempts = Number(d.stepState.rollbackAttempts ?? 0) + 1;
      const message = `rollback attempt ${attempts} failed: ${errorMessage(
        error,
      )}`;
      this.#o.logger.error(`deployment ${d.id}: ${message}`);
      if (attempts >= ROLLBACK_ATTEMPTS) {
        return {
          phase: 'failed',
          message: `${d.message ?? 'rollback'}; ${message}; a person must look`,
          nextRunAt: undefined,
        };
      }
      return {
        stepState: { ...d.stepState, rollbackAttempts: attempts },
        nextRunAt: iso(nowMs + RETRY_MS),
      };
    }
  }

  /** An approval gate with a timeout decides by itself when it runs out. */
  #awaitApproval(
    d: DeploymentRecord,
    nowMs: number,
  ): DeploymentPatch | undefined {
    const step = d.steps[d.currentStep] as DeploymentStep | undefined;
    const open = d.approvals.findIndex(
      a => a.step === d.currentStep && !a.decision,
    );
    const poll = { nextRunAt: iso(nowMs + WAITING_POLL_MS) };
    if (!step || step.kind !== 'approval' || open < 0) {
      return d.nextRunAt && Date.parse(d.nextRunAt) > nowMs ? undefined : poll;
    }
    const request = d.approvals[open];
    if (step.timeoutMs === undefined || step.onTimeout === 'wait') {
      return d.nextRunAt && Date.parse(d.nextRunAt) > nowMs ? undefined : poll;
    }
    const due = Date.parse(request.requestedAt) + step.timeoutMs;
    if (nowMs < due) {
      const next = Math.min(due, nowMs + WAITING_POLL_MS);
      return d.nextRunAt && Date.parse(d.nextRunAt) > nowMs
        ? undefined
        : { nextRunAt: iso(next) };
    }
    const approved = step.onTimeout === 'approve';
    const approvals = [...d.approvals];
    approvals[open] = {
      ...request,
      decision: approved ? 'approved' : 'rejected',
      decidedBy: 'timeout',
      decidedAt: iso(nowMs),
      reason: `no decision within ${Math.round(step.timeoutMs / 1000)} s`,
    };
    const message = `approval timed out after ${Math.round(
      step.timeoutMs / 1000,
    )} s: ${approved ? 'approved' : 'rejected'} by the gate's default`;
    return approved
      ? {
          approvals,
          phase: 'progressing',
          message,
          steps: replaceStep(d.steps, {
            ...step,
            status: 'succeeded',
            finishedAt: iso(nowMs),
            message,
          }),
          currentStep: d.currentStep + 1,
          nextRunAt: iso(nowMs),
        }
      : {
          approvals,
          phase: 'rolling-back',
          message,
          steps: replaceStep(d.steps, {
            ...step,
            status: 'failed',
            finishedAt: iso(nowMs),
            message,
          }),
          nextRunAt: iso(nowMs),
        };
  }

  #announce(before: DeploymentRecord, after: DeploymentRecord) {
    emitDeploymentEvents(this.#o.events, before, after);
  }
}

function iso(ms: number) {
  return new Date(ms).toISOString();
}

function replaceStep(steps: DeploymentStep[], step: DeploymentStep) {
  return steps.map(s => (s.index === step.index ? step : s));
}
