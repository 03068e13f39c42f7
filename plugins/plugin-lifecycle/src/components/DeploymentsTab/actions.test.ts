import { Deployment } from '@internal/plugin-lifecycle-common';
import {
  analysingCanary,
  awaitingApproval,
  pausedCanary,
  rolledBackCanary,
  succeededRolling,
} from './__fixtures__/deployments';
import { availableDeploymentActions, promoteNeedsFull } from './actions';

describe('availableDeploymentActions', () => {
  it.each<[string, Deployment, string[]]>([
    [
      'a progressing canary',
      analysingCanary,
      ['promote', 'pause', 'abort', 'rollback'],
    ],
    // Paused at a pause without a duration: resume would stop there again.
    [
      'a canary paused until promoted',
      pausedCanary,
      ['promote', 'abort', 'rollback'],
    ],
    [
      'a canary paused by a person mid-analysis',
      { ...analysingCanary, phase: 'paused' },
      ['promote', 'resume', 'abort', 'rollback'],
    ],
    // At an approval gate only approve/reject go on (promote is a 409 there).
    [
      'a deployment at its start gate',
      awaitingApproval,
      ['approve', 'reject', 'abort', 'rollback'],
    ],
    [
      'a pending deployment',
      { ...analysingCanary, phase: 'pending', currentStep: 0 },
      ['abort', 'rollback'],
    ],
    [
      'a deployment rolling back',
      { ...analysingCanary, phase: 'rolling-back' },
      [],
    ],
    ['a rolled-back deployment', rolledBackCanary, ['retry']],
    [
      'an aborted deployment',
      { ...rolledBackCanary, phase: 'aborted' },
      ['retry'],
    ],
    [
      'a failed deployment',
      { ...rolledBackCanary, phase: 'failed' },
      ['retry'],
    ],
  ])('offers for %s: %j', (_name, deployment, expected) => {
    expect(availableDeploymentActions(deployment)).toEqual(expected);
  });

  it('offers the rollback of a succeeded deployment only while the plugin runs its version', () => {
    expect(
      availableDeploymentActions(succeededRolling, { runningVersion: '1.0.0' }),
    ).toEqual(['rollback']);
    expect(
      availableDeploymentActions(succeededRolling, { runningVersion: '1.1.0' }),
    ).toEqual([]);
    expect(availableDeploymentActions(succeededRolling)).toEqual([]);
  });

  it('lets an analysis waiting for a person be approved, and a manual A/B decision promoted', () => {
    const waiting: Deployment = {
      ...analysingCanary,
      phase: 'awaiting-approval',
    };
    expect(availableDeploymentActions(waiting)).toEqual([
      'approve',
      'reject',
      'abort',
      'rollback',
    ]);
    const decide: Deployment = {
      ...analysingCanary,
      strategy: 'a-b-testing',
      phase: 'awaiting-approval',
      currentStep: 0,
      steps: [{ index: 0, kind: 'decide', by: 'manual', status: 'running' }],
    };
    expect(availableDeploymentActions(decide)).toEqual([
      'approve',
      'reject',
      'promote',
      'abort',
      'rollback',
    ]);
  });
});

describe('promoteNeedsFull', () => {
  it('is false at a step that waits, true at one that does not', () => {
    expect(promoteNeedsFull(pausedCanary)).toBe(false);
    expect(promoteNeedsFull(analysingCanary)).toBe(false);
    expect(promoteNeedsFull({ ...analysingCanary, currentStep: 1 })).toBe(true);
  });
});
