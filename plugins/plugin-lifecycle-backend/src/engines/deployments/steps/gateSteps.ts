import { DeploymentStepSpec } from '@internal/plugin-lifecycle-common';
import type { DeploymentRecord } from '../../../database/DeploymentStore';
import { errorMessage } from '../../lifecycle/ActionSteps';
import { DeploymentControllerOptions, StepOutcome } from '../deploymentTypes';
import { sideInstances } from './scaleStep';

type Spec<K extends DeploymentStepSpec['kind']> = Extract<
  DeploymentStepSpec,
  { kind: K }
>;

/** When the current step began (the runner records it as it enters a step). */
export function stepStartMs(d: DeploymentRecord, nowMs: number): number {
  return d.stepStartedAt ? Date.parse(d.stepStartedAt) : nowMs;
}

/** An approval gate: opens a request for a decision and waits for a person (or its timeout). */
export function openApproval(
  d: DeploymentRecord,
  step: Spec<'approval'>,
  nowMs: number,
): StepOutcome {
  const open = d.approvals.find(a => a.step === d.currentStep && !a.decision);
  const onTimeout =
    step.timeoutMs === undefined || step.onTimeout === 'wait'
      ? 'no timeout'
      : `${step.onTimeout} after ${Math.round(step.timeoutMs / 1000)} s`;
  return {
    kind: 'approval',
    message: `waiting for approval before ${
      step.gate === 'start' ? 'the deployment starts' : 'promotion'
    } (${onTimeout})`,
    patch: open
      ? undefined
      : {
          approvals: [
            ...d.approvals,
            {
              step: d.currentStep,
              gate: step.gate,
              requestedAt: new Date(nowMs).toISOString(),
            },
          ],
        },
  };
}

/** A pause: for its duration, or until someone promotes. */
export function pause(
  d: DeploymentRecord,
  step: Spec<'pause'>,
  nowMs: number,
): StepOutcome {
  if (step.durationMs === undefined) {
    return { kind: 'pause', message: 'paused until promoted' };
  }
  const until = stepStartMs(d, nowMs) + step.durationMs;
  return nowMs >= until ? { kind: 'done' } : { kind: 'wait', untilMs: until };
}

/** A wait (min-ready, scale-down delay, experiment). */
export function wait(
  d: DeploymentRecord,
  step: Spec<'wait'>,
  nowMs: number,
): StepOutcome {
  const until = stepStartMs(d, nowMs) + step.durationMs;
  return nowMs >= until ? { kind: 'done' } : { kind: 'wait', untilMs: until };
}

/** Sends the smoke request to every new instance directly; each must answer as expected. */
export async function smoke(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
  step: Spec<'smoke'>,
): Promise<StepOutcome> {
  const { ready } = await sideInstances(o, d, d.toVersion);
  if (ready.length === 0) {
    return {
      kind: 'fail',
      message: `smoke test: no ready instance of ${d.toVersion}`,
    };
  }
  const { test } = step;
  const passes = (status: number) =>
    test.expectStatus
      ? test.expectStatus.includes(status)
      : status >= 200 && status < 400;
  for (const instance of ready) {
    const url = `http://${instance.host}:${instance.port}${test.path}`;
    try {
      const response = await fetch(url, {
        method: test.method,
        signal: AbortSignal.timeout(test.timeoutMs),
      });
      await response.arrayBuffer();
      if (!passes(response.status)) {
        return {
          kind: 'fail',
          message: `smoke test: ${test.method} ${test.path} on ${instance.id} answered ${response.status}`,
        };
      }
    } catch (error) {
      return {
        kind: 'fail',
        message: `smoke test: ${test.method} ${test.path} on ${
          instance.id
        } failed: ${errorMessage(error)}`,
      };
    }
  }
  return {
    kind: 'done',
    message: `smoke test passed on ${ready.length} instance(s)`,
  };
}

/** A/B: the winner from the experiment's analysis, or a person's (promote with `winner`). */
export function decide(d: DeploymentRecord, step: Spec<'decide'>): StepOutcome {
  if (d.winner) {
    return d.winner === d.toVersion
      ? { kind: 'done', message: `${d.toVersion} won` }
      : { kind: 'revert', message: `${d.fromVersion} won the A/B test` };
  }
  if (step.by === 'manual') {
    return {
      kind: 'pause',
      message: `waiting for a person to declare the winner (promote with winner ${d.toVersion} or ${d.fromVersion})`,
    };
  }
  const winner = (d.stepState.context as { abWinner?: string } | undefined)
    ?.abWinner;
  if (!winner) {
    return { kind: 'fail', message: 'the experiment ended without a winner' };
  }
  return winner === d.toVersion
    ? { kind: 'done', message: `${winner} won`, patch: { winner } }
    : {
        kind: 'revert',
        message: `${winner} won the A/B test`,
        patch: { winner },
      };
}
