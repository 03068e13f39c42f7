import { LIFECYCLE_STATES, LifecycleState } from './states';
import {
  LIFECYCLE_ACTIONS,
  LifecycleAction,
  availableActions,
  canPerformAction,
  isTransitionAllowed,
} from './transitions';

// Written out by hand, independently of the table, so a change to the table
// must be made deliberately in two places.
const ALLOWED = new Set([
  'inactive->installing',
  'installing->installed',
  'installing->inactive',
  'installing->error',
  'installed->configuring',
  'installed->starting',
  'installed->updating',
  'installed->uninstalling',
  'installed->maintenance',
  'configuring->installed',
  'configuring->running',
  'configuring->error',
  'starting->running',
  'starting->installed',
  'starting->error',
  'running->configuring',
  'running->updating',
  'running->stopping',
  'running->maintenance',
  'running->error',
  'updating->running',
  'updating->installed',
  'updating->error',
  'stopping->installed',
  'stopping->error',
  'uninstalling->inactive',
  'uninstalling->error',
  'error->installing',
  'error->starting',
  'error->stopping',
  'error->uninstalling',
  'error->maintenance',
  'maintenance->running',
  'maintenance->installed',
  'maintenance->stopping',
  'maintenance->uninstalling',
  'maintenance->error',
]);

const pairs = LIFECYCLE_STATES.flatMap(from =>
  LIFECYCLE_STATES.map(to => [from, to] as const),
);

describe('lifecycle transition table', () => {
  it('has all eleven states of the design', () => {
    expect([...LIFECYCLE_STATES].sort()).toEqual(
      [
        'configuring',
        'error',
        'inactive',
        'installed',
        'installing',
        'maintenance',
        'running',
        'starting',
        'stopping',
        'uninstalling',
        'updating',
      ].sort(),
    );
  });

  it.each(pairs.filter(([f, t]) => ALLOWED.has(`${f}->${t}`)))(
    'allows %s -> %s',
    (from, to) => {
      expect(isTransitionAllowed(from, to)).toBe(true);
    },
  );

  it.each(pairs.filter(([f, t]) => !ALLOWED.has(`${f}->${t}`)))(
    'forbids %s -> %s',
    (from, to) => {
      expect(isTransitionAllowed(from, to)).toBe(false);
    },
  );

  it('covers exactly the hand-written allowed list', () => {
    const allowed = pairs
      .filter(([f, t]) => isTransitionAllowed(f, t))
      .map(([f, t]) => `${f}->${t}`);
    expect(new Set(allowed)).toEqual(ALLOWED);
  });

  it('never allows staying in the same state', () => {
    for (const s of LIFECYCLE_STATES) {
      expect(isTransitionAllowed(s, s)).toBe(false);
    }
  });

  it('rejects unknown states', () => {
    expect(isTransitionAllowed('nope' as LifecycleState, 'running')).toBe(
      false,
    );
  });
});

describe('lifecycle actions', () => {
  const actions = Object.values(LIFECYCLE_ACTIONS);

  it.each(actions.filter(a => !a.steps))(
    '$action only uses transitions the table allows',
    spec => {
      const used = spec.from.flatMap(from => {
        const end = (target: LifecycleState | 'previous') =>
          target === 'previous' ? from : target;
        return spec.via
          ? [
              [from, spec.via],
              [spec.via, end(spec.to)],
              [spec.via, end(spec.onFailure)],
            ]
          : [[from, end(spec.to)]];
      }) as [LifecycleState, LifecycleState][];
      expect(used.filter(([a, b]) => !isTransitionAllowed(a, b))).toEqual([]);
    },
  );

  it('composes restart from stop and start', () => {
    expect(LIFECYCLE_ACTIONS.restart.steps).toEqual(['stop', 'start']);
    // stop ends where start may begin
    expect(
      canPerformAction(LIFECYCLE_ACTIONS.stop.to as LifecycleState, 'start'),
    ).toBe(true);
  });

  it.each<[LifecycleState, LifecycleAction[]]>([
    ['inactive', ['install']],
    ['installing', []],
    [
      'installed',
      ['configure', 'start', 'update', 'uninstall', 'maintenance-on'],
    ],
    ['running', ['configure', 'stop', 'restart', 'update', 'maintenance-on']],
    [
      'error',
      ['install', 'start', 'stop', 'restart', 'uninstall', 'maintenance-on'],
    ],
    ['maintenance', ['stop', 'uninstall', 'maintenance-off']],
    ['stopping', []],
    ['uninstalling', []],
  ])('offers from %s exactly %j', (state, expected) => {
    expect(availableActions(state).sort()).toEqual([...expected].sort());
  });
});
