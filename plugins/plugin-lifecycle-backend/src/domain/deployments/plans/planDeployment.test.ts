import { InputError } from '@backstage/errors';
import {
  DEPLOYMENT_STRATEGIES,
  DeploymentStrategy,
} from '@internal/plugin-lifecycle-common';
import { planDeployment } from './planDeployment';

const abTesting = {
  percentage: 20,
  duration: 1000,
  winner: 'analysis' as const,
};

describe('planDeployment', () => {
  it('plans recreate: stop all, start the new set', () => {
    expect(
      planDeployment({ strategy: 'recreate', config: {}, replicas: 3 }),
    ).toEqual([
      { kind: 'scale', side: 'old', replicas: 0 },
      { kind: 'scale', side: 'new', replicas: 3 },
      { kind: 'finish' },
    ]);
  });

  it.each(DEPLOYMENT_STRATEGIES)(
    '%s: the start gate comes first, one promotion gate before old instances go or traffic moves fully',
    strategy => {
      const steps = planDeployment({
        strategy,
        config: {
          abTesting,
          approvals: {
            beforeStart: { timeoutMs: 5000, onTimeout: 'reject' },
            beforePromotion: { onTimeout: 'wait' },
          },
        },
        replicas: 2,
      });
      expect(steps[0]).toEqual({
        kind: 'approval',
        gate: 'start',
        timeoutMs: 5000,
        onTimeout: 'reject',
      });
      const gates = steps.flatMap((s, i) =>
        s.kind === 'approval' && s.gate === 'promotion' ? [i] : [],
      );
      expect(gates).toHaveLength(1);
      const [gate] = gates;
      // Nothing before the gate moves traffic fully or stops an old instance.
      const before = steps.slice(0, gate);
      expect(before).not.toContainEqual({ kind: 'setWeight', weight: 100 });
      expect(before.some(s => s.kind === 'scale' && s.side === 'old')).toBe(
        false,
      );
      // ...and something right after it does.
      const after = steps.slice(gate + 1, gate + 3);
      expect(
        after.some(
          s =>
            (s.kind === 'setWeight' && s.weight === 100) ||
            (s.kind === 'scale' && s.side === 'old'),
        ),
      ).toBe(true);
      expect(steps.at(-1)).toEqual({ kind: 'finish' });
    },
  );

  it('has no approval steps without gates', () => {
    for (const strategy of DEPLOYMENT_STRATEGIES) {
      const steps = planDeployment({
        strategy,
        config: { abTesting },
        replicas: 2,
      });
      expect(steps.some(s => s.kind === 'approval')).toBe(false);
    }
  });

  it('names the bad field', () => {
    expect(() =>
      planDeployment({
        strategy: 'rolling-update' as DeploymentStrategy,
        config: {},
        replicas: 1,
      }),
    ).toThrow(InputError);
    expect(() =>
      planDeployment({ strategy: 'rolling', config: {}, replicas: 0 }),
    ).toThrow('replicas: must be a whole number of at least 1, got 0');
    expect(() =>
      planDeployment({
        strategy: 'recreate',
        config: { approvals: { beforeStart: { timeoutMs: 0 } as never } },
        replicas: 1,
      }),
    ).toThrow(/^deploymentConfig\.approvals\.beforeStart\.timeoutMs: /);
  });
});
