import {
  analysisCriteriaSchema,
  deploymentConfigSchema,
} from '@internal/plugin-lifecycle-common';
import { planDeployment } from './planDeployment';

function blueGreen(replicas: number, config: object = {}, extra = {}) {
  return planDeployment({
    strategy: 'blue-green',
    config: deploymentConfigSchema.parse({ blueGreen: config, ...extra }),
    replicas,
  });
}

describe('planDeployment: blue-green', () => {
  it('starts the full set without traffic, switches, keeps the old set warm', () => {
    expect(blueGreen(3)).toEqual([
      { kind: 'scale', side: 'new', replicas: 3 },
      { kind: 'setWeight', weight: 100 },
      { kind: 'wait', durationMs: 30_000, reason: 'scale-down-delay' },
      { kind: 'finish' },
    ]);
    expect(
      planDeployment({ strategy: 'blue-green', config: {}, replicas: 3 }),
    ).toEqual(blueGreen(3));
  });

  it('smoke-tests, waits for approval, analyses while the old set is warm', () => {
    const steps = blueGreen(2, {
      smokeTest: { path: '/healthz' },
      requireApproval: true,
      scaleDownDelay: 0,
      analysis: { duration: 10_000, minRequests: 5 },
    });
    expect(steps).toEqual([
      { kind: 'scale', side: 'new', replicas: 2 },
      {
        kind: 'smoke',
        test: { path: '/healthz', method: 'GET', timeoutMs: 5000 },
      },
      { kind: 'approval', gate: 'promotion', onTimeout: 'wait' },
      { kind: 'setWeight', weight: 100 },
      {
        kind: 'analysis',
        durationMs: 10_000,
        criteria: analysisCriteriaSchema.parse({
          successThreshold: 99,
          errorThreshold: 1,
          minRequests: 5,
        }),
      },
      { kind: 'wait', durationMs: 0, reason: 'scale-down-delay' },
      { kind: 'finish' },
    ]);
  });

  it('has one promotion gate, with the configured timeout, for either setting', () => {
    const steps = blueGreen(
      1,
      { requireApproval: true },
      {
        approvals: {
          beforePromotion: { timeoutMs: 60_000, onTimeout: 'approve' },
        },
      },
    );
    expect(steps.filter(s => s.kind === 'approval')).toEqual([
      {
        kind: 'approval',
        gate: 'promotion',
        timeoutMs: 60_000,
        onTimeout: 'approve',
      },
    ]);
    expect(blueGreen(1, {}, { approvals: { beforePromotion: {} } })[1]).toEqual(
      { kind: 'approval', gate: 'promotion', onTimeout: 'wait' },
    );
  });
});
