import {
  analysisCriteriaSchema,
  deploymentConfigSchema,
} from '@internal/plugin-lifecycle-common';
import { planDeployment } from './planDeployment';

function canary(replicas: number, canaryConfig: object = {}, extra = {}) {
  return planDeployment({
    strategy: 'canary',
    config: deploymentConfigSchema.parse({ canary: canaryConfig, ...extra }),
    replicas,
  });
}

const designCriteria = analysisCriteriaSchema.parse({
  successThreshold: 99,
  errorThreshold: 1,
});

describe('planDeployment: canary', () => {
  it('follows the design defaults: 25% steps, a minute of analysis each', () => {
    const analysis = {
      kind: 'analysis',
      durationMs: 60_000,
      criteria: designCriteria,
    };
    expect(canary(4)).toEqual([
      { kind: 'scale', side: 'new', replicas: 1 },
      { kind: 'setWeight', weight: 25 },
      analysis,
      { kind: 'setWeight', weight: 50 },
      analysis,
      { kind: 'setWeight', weight: 75 },
      analysis,
      { kind: 'scale', side: 'new', replicas: 4 },
      { kind: 'setWeight', weight: 100 },
      { kind: 'finish' },
    ]);
    expect(designCriteria).toMatchObject({ minRequests: 50, maxExtensions: 3 });
  });

  it('plans without a canary block too (defaults)', () => {
    expect(
      planDeployment({ strategy: 'canary', config: {}, replicas: 4 }),
    ).toEqual(canary(4));
  });

  it('takes the increment, interval, thresholds and analysis overrides', () => {
    const steps = canary(3, {
      trafficIncrement: 40,
      incrementInterval: 5000,
      successThreshold: 95,
      errorThreshold: 4,
      canaryReplicas: 2,
      analysis: { minRequests: 10, errorThreshold: 2, maxLatencyP99Ms: 300 },
    });
    const criteria = {
      ...designCriteria,
      successThreshold: 95,
      errorThreshold: 2,
      minRequests: 10,
      maxLatencyP99Ms: 300,
    };
    expect(steps).toEqual([
      { kind: 'scale', side: 'new', replicas: 2 },
      { kind: 'setWeight', weight: 40 },
      { kind: 'analysis', durationMs: 5000, criteria },
      { kind: 'setWeight', weight: 80 },
      { kind: 'analysis', durationMs: 5000, criteria },
      { kind: 'scale', side: 'new', replicas: 3 },
      { kind: 'setWeight', weight: 100 },
      { kind: 'finish' },
    ]);
  });

  it('caps canaryReplicas at the replicas', () => {
    expect(canary(2, { canaryReplicas: 5 })[0]).toEqual({
      kind: 'scale',
      side: 'new',
      replicas: 2,
    });
  });

  it('pauses until promoted without autoPromote, then the promotion gate', () => {
    const steps = canary(
      2,
      { trafficIncrement: 50, autoPromote: false },
      {
        approvals: { beforePromotion: {} },
      },
    );
    expect(steps.slice(3)).toEqual([
      { kind: 'pause' },
      { kind: 'approval', gate: 'promotion', onTimeout: 'wait' },
      { kind: 'scale', side: 'new', replicas: 2 },
      { kind: 'setWeight', weight: 100 },
      { kind: 'finish' },
    ]);
  });

  it('maps explicit steps one to one, scaling up before the first 100', () => {
    const steps = canary(3, {
      errorThreshold: 3,
      analysis: { minRequests: 20 },
      steps: [
        { setWeight: 10 },
        { pause: { duration: 1000 } },
        { analysis: { duration: 2000, maxLatencyP99Ms: 100 } },
        { pause: {} },
        { setWeight: 100 },
        { analysis: { duration: 3000, minRequests: 200 } },
      ],
    });
    expect(steps).toEqual([
      { kind: 'scale', side: 'new', replicas: 1 },
      { kind: 'setWeight', weight: 10 },
      { kind: 'pause', durationMs: 1000 },
      {
        kind: 'analysis',
        durationMs: 2000,
        // the step's parsed defaults (minRequests 50) win over the canary's analysis
        criteria: {
          ...designCriteria,
          errorThreshold: 3,
          maxLatencyP99Ms: 100,
        },
      },
      { kind: 'pause' },
      { kind: 'scale', side: 'new', replicas: 3 },
      { kind: 'setWeight', weight: 100 },
      {
        kind: 'analysis',
        durationMs: 3000,
        criteria: { ...designCriteria, errorThreshold: 3, minRequests: 200 },
      },
      { kind: 'finish' },
    ]);
  });

  it('fills what an explicit analysis step leaves unset from the canary', () => {
    const steps = canary(1, {
      analysis: { maxLatencyP99Ms: 250, providers: [{ name: 'prometheus' }] },
      steps: [
        { analysis: { duration: 2000, successThreshold: 90 } },
        { setWeight: 100 },
      ],
    });
    expect(steps[1]).toEqual({
      kind: 'analysis',
      durationMs: 2000,
      criteria: {
        ...designCriteria,
        successThreshold: 90,
        maxLatencyP99Ms: 250,
        providers: [{ name: 'prometheus' }],
      },
    });
  });

  it('refuses a step list that never reaches 100, naming the field', () => {
    expect(() =>
      planDeployment({
        strategy: 'canary',
        config: { canary: { steps: [{ setWeight: 50 }] } as never },
        replicas: 2,
      }),
    ).toThrow(
      'deploymentConfig.canary.steps: the step list never reaches weight 100',
    );
    expect(() =>
      planDeployment({
        strategy: 'canary',
        config: { canary: { trafficIncrement: 0 } as never },
        replicas: 2,
      }),
    ).toThrow(/^deploymentConfig\.canary\.trafficIncrement: /);
  });
});
