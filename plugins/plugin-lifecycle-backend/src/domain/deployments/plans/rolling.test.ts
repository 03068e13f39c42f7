import { InputError } from '@backstage/errors';
import { DeploymentStepSpec } from '@internal/plugin-lifecycle-common';
import { resolveCount } from '../resolveCount';
import { planDeployment } from './planDeployment';

function rolling(replicas: number, rollingConfig: object = {}, extra = {}) {
  return planDeployment({
    strategy: 'rolling',
    config: { rolling: rollingConfig as never, ...extra },
    replicas,
  });
}

/**
 * Runs a plan against a model of the instances. While a `scale new` step
 * runs, its instances exist but are not ready yet; a `scale old` step
 * stops instances at once. Checks the bounds at every moment.
 */
function simulate(
  steps: DeploymentStepSpec[],
  replicas: number,
  surge: number,
  unavailable: number,
) {
  let oldCount = replicas;
  let newReady = 0;
  const check = (total: number, ready: number) => {
    expect(total).toBeLessThanOrEqual(replicas + surge);
    expect(ready).toBeGreaterThanOrEqual(replicas - unavailable);
  };
  for (const step of steps) {
    if (step.kind !== 'scale') continue;
    if (step.side === 'new') {
      expect(step.replicas).toBeGreaterThan(newReady);
      check(oldCount + step.replicas, oldCount + newReady); // starting
      newReady = step.replicas;
    } else {
      expect(step.replicas).toBeLessThan(oldCount);
      oldCount = step.replicas;
    }
    check(oldCount + newReady, oldCount + newReady);
  }
  return { oldCount, newReady };
}

describe('planDeployment: rolling', () => {
  it('replaces one at a time by default (maxSurge 1, maxUnavailable 0)', () => {
    expect(rolling(3)).toEqual([
      { kind: 'scale', side: 'new', replicas: 1 },
      { kind: 'scale', side: 'old', replicas: 2 },
      { kind: 'scale', side: 'new', replicas: 2 },
      { kind: 'scale', side: 'old', replicas: 1 },
      { kind: 'scale', side: 'new', replicas: 3 },
      { kind: 'scale', side: 'old', replicas: 0 },
      { kind: 'finish' },
    ]);
  });

  it('is the same when the config has no rolling block', () => {
    expect(
      planDeployment({ strategy: 'rolling', config: {}, replicas: 3 }),
    ).toEqual(rolling(3));
  });

  it('stops old ones first when there is no surge', () => {
    expect(rolling(2, { maxSurge: 0, maxUnavailable: 1 })).toEqual([
      { kind: 'scale', side: 'old', replicas: 1 },
      { kind: 'scale', side: 'new', replicas: 1 },
      { kind: 'scale', side: 'old', replicas: 0 },
      { kind: 'scale', side: 'new', replicas: 2 },
      { kind: 'finish' },
    ]);
  });

  it('reads percentages: surge rounds up, unavailable rounds down', () => {
    // 10 replicas: surge ceil(2.5) = 3, unavailable floor(2.5) = 2
    const steps = rolling(10, { maxSurge: '25%', maxUnavailable: '25%' });
    expect(steps.slice(0, 3)).toEqual([
      { kind: 'scale', side: 'new', replicas: 3 },
      { kind: 'scale', side: 'old', replicas: 5 },
      { kind: 'scale', side: 'new', replicas: 8 },
    ]);
    simulate(steps, 10, 3, 2);
  });

  it('waits minReadySeconds after each new batch', () => {
    expect(rolling(2, { minReadySeconds: 5 })).toEqual([
      { kind: 'scale', side: 'new', replicas: 1 },
      { kind: 'wait', durationMs: 5000, reason: 'min-ready' },
      { kind: 'scale', side: 'old', replicas: 1 },
      { kind: 'scale', side: 'new', replicas: 2 },
      { kind: 'wait', durationMs: 5000, reason: 'min-ready' },
      { kind: 'scale', side: 'old', replicas: 0 },
      { kind: 'finish' },
    ]);
  });

  it('puts the promotion gate before the first old instance stops', () => {
    const steps = rolling(
      2,
      {},
      {
        approvals: {
          beforePromotion: { onTimeout: 'reject', timeoutMs: 1000 },
        },
      },
    );
    expect(steps.slice(0, 3)).toEqual([
      { kind: 'scale', side: 'new', replicas: 1 },
      {
        kind: 'approval',
        gate: 'promotion',
        timeoutMs: 1000,
        onTimeout: 'reject',
      },
      { kind: 'scale', side: 'old', replicas: 1 },
    ]);
    expect(steps.filter(s => s.kind === 'approval')).toHaveLength(1);
  });

  it('refuses a rollout that could never make progress, naming the field', () => {
    expect(() => rolling(3, { maxSurge: 0, maxUnavailable: 0 })).toThrow(
      new InputError(
        'deploymentConfig.rolling: maxSurge and maxUnavailable cannot both be 0 (with 3 replicas)',
      ),
    );
    // 10% of 3 rounds down to 0
    expect(() => rolling(3, { maxSurge: 0, maxUnavailable: '10%' })).toThrow(
      /cannot both be 0/,
    );
    expect(() => rolling(3, { maxSurge: 'x' })).toThrow(
      /^deploymentConfig\.rolling\.maxSurge: /,
    );
  });

  const values = [0, 1, 2, 3, 12, '0%', '10%', '25%', '33%', '50%', '100%'];
  const shapes = Array.from({ length: 10 }, (_, i) => i + 1).flatMap(replicas =>
    values.flatMap(maxSurge =>
      values.map(maxUnavailable => ({
        replicas,
        config: { maxSurge, maxUnavailable, minReadySeconds: replicas % 2 },
        surge: Math.min(resolveCount(maxSurge, replicas, 'up'), replicas),
        unavailable: Math.min(
          resolveCount(maxUnavailable, replicas, 'down'),
          replicas,
        ),
      })),
    ),
  );
  const stuck = shapes.filter(s => s.surge === 0 && s.unavailable === 0);
  const moving = shapes.filter(s => s.surge > 0 || s.unavailable > 0);

  it('keeps the surge and availability bounds for every small shape', () => {
    expect(moving.length).toBeGreaterThan(900);
    for (const { replicas, config, surge, unavailable } of moving) {
      const steps = rolling(replicas, config);
      expect(simulate(steps, replicas, surge, unavailable)).toEqual({
        oldCount: 0,
        newReady: replicas,
      });
      expect(steps.at(-1)).toEqual({ kind: 'finish' });
      expect(steps.some(s => s.kind === 'setWeight')).toBe(false);
      const waits = steps.filter(s => s.kind === 'wait').length;
      const newBatches = steps.filter(
        s => s.kind === 'scale' && s.side === 'new',
      ).length;
      expect(waits).toBe(config.minReadySeconds * newBatches);
    }
  });

  it('refuses every small shape that could not move', () => {
    expect(stuck.length).toBeGreaterThan(50);
    for (const { replicas, config } of stuck) {
      expect(() => rolling(replicas, config)).toThrow(/cannot both be 0/);
    }
  });
});
