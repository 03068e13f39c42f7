import {
  analysisCriteriaSchema,
  deploymentConfigSchema,
} from '@internal/plugin-lifecycle-common';
import { planDeployment } from './planDeployment';

function ab(replicas: number, config: object, extra = {}) {
  return planDeployment({
    strategy: 'a-b-testing',
    config: deploymentConfigSchema.parse({ abTesting: config, ...extra }),
    replicas,
  });
}

describe('planDeployment: A/B testing', () => {
  const match = { header: { name: 'x-variant', value: 'b' } };

  it('routes matching requests to B, compares by analysis, decides, promotes', () => {
    expect(
      ab(3, { match, duration: 60_000, analysis: { minRequests: 100 } }),
    ).toEqual([
      { kind: 'scale', side: 'new', replicas: 1 },
      { kind: 'setMatch', match },
      {
        kind: 'analysis',
        durationMs: 60_000,
        criteria: analysisCriteriaSchema.parse({
          successThreshold: 99,
          errorThreshold: 1,
          minRequests: 100,
        }),
        compare: true,
      },
      { kind: 'decide', by: 'analysis' },
      { kind: 'scale', side: 'new', replicas: 3 },
      { kind: 'setWeight', weight: 100 },
      { kind: 'finish' },
    ]);
  });

  it('splits by percentage and lets a person decide after the experiment', () => {
    const steps = ab(
      2,
      { percentage: 10, duration: 5000, winner: 'manual', variantReplicas: 4 },
      {
        approvals: { beforePromotion: { onTimeout: 'reject', timeoutMs: 10 } },
      },
    );
    expect(steps).toEqual([
      { kind: 'scale', side: 'new', replicas: 2 },
      { kind: 'setWeight', weight: 10 },
      { kind: 'wait', durationMs: 5000, reason: 'experiment' },
      { kind: 'decide', by: 'manual' },
      {
        kind: 'approval',
        gate: 'promotion',
        timeoutMs: 10,
        onTimeout: 'reject',
      },
      { kind: 'scale', side: 'new', replicas: 2 },
      { kind: 'setWeight', weight: 100 },
      { kind: 'finish' },
    ]);
  });

  it('needs its settings, naming the field', () => {
    expect(() =>
      planDeployment({ strategy: 'a-b-testing', config: {}, replicas: 1 }),
    ).toThrow(/^deploymentConfig\.abTesting: is required/);
    expect(() =>
      planDeployment({
        strategy: 'a-b-testing',
        config: {
          abTesting: { match, percentage: 5, duration: 1000 } as never,
        },
        replicas: 1,
      }),
    ).toThrow(
      'deploymentConfig.abTesting: give either match (header or cookie) or percentage',
    );
  });
});
