import { InputError } from '@backstage/errors';
import { LifecycleAction } from '@internal/plugin-lifecycle-common';
import { BatchItem, BatchPlan, isDownAction, planBatch } from './batchPlan';

const ALL_ACTIONS: LifecycleAction[] = [
  'install',
  'update',
  'configure',
  'start',
  'stop',
  'restart',
  'uninstall',
  'maintenance-on',
  'maintenance-off',
];
const UP_ACTIONS = ALL_ACTIONS.filter(a => !isDownAction(a));
const DOWN_ACTIONS = ALL_ACTIONS.filter(a => isDownAction(a));

function graph(edges: Record<string, string[]>) {
  return (pluginId: string) => edges[pluginId] ?? [];
}

function items(...specs: string[]): BatchItem[] {
  // 'start a' -> { key: '0', pluginId: 'a', action: 'start' }
  return specs.map((spec, index) => {
    const [action, pluginId] = spec.split(' ');
    return {
      key: String(index),
      pluginId,
      action: action as LifecycleAction,
    };
  });
}

function position(plan: BatchPlan) {
  return (key: string) => plan.order.indexOf(key);
}

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

/** Deterministic PRNG so that failures of the property tests reproduce. */
function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('isDownAction', () => {
  it('classifies the actions', () => {
    expect(DOWN_ACTIONS.sort()).toEqual([
      'maintenance-on',
      'stop',
      'uninstall',
    ]);
    expect(UP_ACTIONS.sort()).toEqual([
      'configure',
      'install',
      'maintenance-off',
      'restart',
      'start',
      'update',
    ]);
  });
});

describe('planBatch', () => {
  it('plans an empty batch', () => {
    expect(planBatch([], graph({}))).toEqual({
      order: [],
      dependsOn: {},
      levels: [],
    });
  });

  it('installs and starts dependencies first', () => {
    // a depends on b, b depends on c
    const deps = graph({ a: ['b'], b: ['c'] });
    const plan = planBatch(
      items(
        'install a',
        'install b',
        'install c',
        'start a',
        'start b',
        'start c',
      ),
      deps,
    );
    const at = position(plan);
    expect(at('2')).toBeLessThan(at('1'));
    expect(at('1')).toBeLessThan(at('0'));
    expect(at('5')).toBeLessThan(at('4'));
    expect(at('4')).toBeLessThan(at('3'));
    expect(at('0')).toBeLessThan(at('3'));
    // an up item waits for every up item on its dependencies, so c is
    // installed and started before b is installed
    expect(plan.order).toEqual(['2', '5', '1', '4', '0', '3']);
    expect(plan.dependsOn).toEqual({
      '0': ['4'],
      '1': ['5'],
      '2': [],
      '3': ['0'],
      '4': ['1'],
      '5': ['2'],
    });
    expect(plan.levels).toEqual([['2'], ['5'], ['1'], ['4'], ['0'], ['3']]);
  });

  it('stops dependents first', () => {
    const deps = graph({ a: ['b'], b: ['c'] });
    const plan = planBatch(items('stop c', 'stop b', 'stop a'), deps);
    expect(plan.order).toEqual(['2', '1', '0']);
    expect(plan.dependsOn).toEqual({ '0': ['1'], '1': ['2'], '2': [] });
    expect(plan.levels).toEqual([['2'], ['1'], ['0']]);
  });

  it('treats uninstall and maintenance-on as down actions', () => {
    const deps = graph({ a: ['b'] });
    expect(planBatch(items('uninstall b', 'uninstall a'), deps).order).toEqual([
      '1',
      '0',
    ]);
    expect(
      planBatch(items('maintenance-on b', 'stop a'), deps).dependsOn,
    ).toEqual({ '0': ['1'], '1': [] });
  });

  it('treats update, configure, restart and maintenance-off as up actions', () => {
    const deps = graph({ a: ['b'] });
    for (const action of [
      'update',
      'configure',
      'restart',
      'maintenance-off',
    ]) {
      const plan = planBatch(items(`${action} a`, `start b`), deps);
      expect(plan.order).toEqual(['1', '0']);
    }
  });

  it('does not order an up item against a down item of another plugin', () => {
    const deps = graph({ a: ['b'] });
    const plan = planBatch(items('start a', 'stop b'), deps);
    expect(plan.dependsOn).toEqual({ '0': [], '1': [] });
    expect(plan.levels).toEqual([['0', '1']]);
    expect(plan.order).toEqual(['0', '1']);
  });

  it('runs items on the same plugin in the order given', () => {
    const plan = planBatch(
      items('stop a', 'configure a', 'start a', 'start b'),
      graph({}),
    );
    expect(plan.order).toEqual(['0', '1', '2', '3']);
    expect(plan.dependsOn).toEqual({
      '0': [],
      '1': ['0'],
      '2': ['1'],
      '3': [],
    });
    expect(plan.levels).toEqual([['0', '3'], ['1'], ['2']]);
  });

  it('orders a restart of a dependency chain: stop down, start up', () => {
    const deps = graph({ a: ['b'] });
    const plan = planBatch(
      items('stop a', 'start a', 'stop b', 'start b'),
      deps,
    );
    expect(plan.order).toEqual(['0', '2', '3', '1']);
    // "start a" also waits for "stop a", but through "start b" already
    expect(plan.dependsOn).toEqual({
      '0': [],
      '1': ['3'],
      '2': ['0'],
      '3': ['2'],
    });
  });

  it('follows dependencies through plugins that are not in the batch', () => {
    // a -> b -> c, only a and c are in the batch
    const deps = graph({ a: ['b'], b: ['c'] });
    const up = planBatch(items('start a', 'start c'), deps);
    expect(up.order).toEqual(['1', '0']);
    expect(up.dependsOn['0']).toEqual(['1']);

    const down = planBatch(items('stop c', 'stop a'), deps);
    expect(down.order).toEqual(['1', '0']);
    expect(down.dependsOn['0']).toEqual(['1']);
  });

  it('waits for every up item on a dependency', () => {
    const deps = graph({ a: ['b'] });
    const plan = planBatch(items('start a', 'install b', 'start b'), deps);
    expect(plan.order).toEqual(['1', '2', '0']);
    // the wait on "install b" is implied by the one on "start b"
    expect(plan.dependsOn['0']).toEqual(['2']);
  });

  it('keeps the given order where the waits allow', () => {
    const plan = planBatch(
      items('start x', 'start a', 'start y', 'start b'),
      graph({ a: ['b'] }),
    );
    expect(plan.order).toEqual(['0', '2', '3', '1']);
    expect(plan.levels).toEqual([['0', '2', '3'], ['1']]);
  });

  it('drops redundant waits but keeps independent ones', () => {
    // diamond: a -> b, a -> c, b -> d, c -> d
    const deps = graph({ a: ['b', 'c'], b: ['d'], c: ['d'] });
    const plan = planBatch(
      items('start a', 'start b', 'start c', 'start d'),
      deps,
    );
    expect(plan.dependsOn).toEqual({
      '0': ['1', '2'],
      '1': ['3'],
      '2': ['3'],
      '3': [],
    });
    expect(plan.levels).toEqual([['3'], ['1', '2'], ['0']]);
  });

  it('accepts keys of any shape', () => {
    const plan = planBatch(
      [
        { key: '__proto__', pluginId: 'a', action: 'start' },
        { key: 'constructor', pluginId: 'b', action: 'start' },
      ],
      graph({ a: ['b'] }),
    );
    expect(Object.keys(plan.dependsOn).sort()).toEqual([
      '__proto__',
      'constructor',
    ]);
    expect(
      Object.getOwnPropertyDescriptor(plan.dependsOn, '__proto__')?.value,
    ).toEqual(['constructor']);
    expect(plan.order).toEqual(['constructor', '__proto__']);
  });

  it('asks for the dependencies of each plugin once', () => {
    const dependenciesOf = jest.fn(
      (p: string) =>
        (({ a: ['b', 'c'], b: ['c'] } as Record<string, string[]>)[p] ?? []),
    );
    planBatch(items('start a', 'start b', 'start c', 'stop a'), dependenciesOf);
    const calls = dependenciesOf.mock.calls.map(([p]) => p).sort();
    expect(calls).toEqual(['a', 'b', 'c']);
  });

  it('ignores duplicated dependency entries', () => {
    const plan = planBatch(
      items('start a', 'start b'),
      graph({ a: ['b', 'b'] }),
    );
    expect(plan.dependsOn['0']).toEqual(['1']);
  });

  describe('cycles', () => {
    it('names a cycle among the batch plugins', () => {
      const error = catchError(() =>
        planBatch(
          items('start a', 'start b', 'start c'),
          graph({ a: ['b'], b: ['c'], c: ['a'] }),
        ),
      );
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe('Dependency cycle: a -> b -> c -> a');
    });

    it('names a cycle through plugins outside the batch', () => {
      const error = catchError(() =>
        planBatch(items('stop a'), graph({ a: ['x'], x: ['y'], y: ['a'] })),
      );
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe('Dependency cycle: a -> x -> y -> a');
    });

    it('reports the shortest cycle', () => {
      const error = catchError(() =>
        planBatch(
          items('start a'),
          graph({ a: ['b', 'c'], b: ['d'], d: ['a'], c: ['a'] }),
        ),
      );
      expect(error.message).toBe('Dependency cycle: a -> c -> a');
    });

    it('rejects a plugin that depends on itself', () => {
      const error = catchError(() =>
        planBatch(items('start a'), graph({ a: ['a'] })),
      );
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe('Dependency cycle: a -> a');
    });

    it('ignores cycles that do not pass through the batch', () => {
      const plan = planBatch(
        items('start a', 'start z'),
        graph({ a: ['x'], x: ['y'], y: ['x', 'z'] }),
      );
      expect(plan.order).toEqual(['1', '0']);
    });

    it('rejects items on one plugin whose order contradicts the dependencies', () => {
      // a depends on b. "start a" before "stop a" while b is stopped before
      // being started: start a waits for start b, which waits for stop b,
      // which waits for stop a, which waits for start a.
      const error = catchError(() =>
        planBatch(
          items('start a', 'stop a', 'stop b', 'start b'),
          graph({ a: ['b'] }),
        ),
      );
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe(
        'Batch items wait for each other in a cycle: start a [0] -> start b [3] -> stop b [2] -> stop a [1] -> start a [0]; reorder the items on the same plugin to match the dependency order',
      );
    });
  });

  describe('input validation', () => {
    it('rejects duplicate keys', () => {
      const error = catchError(() =>
        planBatch(
          [
            { key: 'k', pluginId: 'a', action: 'start' },
            { key: 'k', pluginId: 'b', action: 'start' },
          ],
          graph({}),
        ),
      );
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe("Duplicate batch item key 'k'");
    });

    it('rejects empty keys, missing plugin ids and unknown actions', () => {
      expect(() =>
        planBatch([{ key: '', pluginId: 'a', action: 'start' }], graph({})),
      ).toThrow(InputError);
      expect(() =>
        planBatch([{ key: 'k', pluginId: '', action: 'start' }], graph({})),
      ).toThrow(InputError);
      expect(() =>
        planBatch(
          [{ key: 'k', pluginId: 'a', action: 'explode' as LifecycleAction }],
          graph({}),
        ),
      ).toThrow("Batch item 'k' has unknown action 'explode'");
      expect(() =>
        planBatch(
          [{ key: 'k', pluginId: 'a', action: 'toString' as LifecycleAction }],
          graph({}),
        ),
      ).toThrow(InputError);
      expect(() =>
        planBatch(undefined as unknown as BatchItem[], graph({})),
      ).toThrow(InputError);
    });
  });

  describe('properties on random batches', () => {
    interface Scenario {
      items: BatchItem[];
      edges: Record<string, string[]>;
    }

    function randomScenario(random: () => number, actions: LifecycleAction[]) {
      const pluginCount = 1 + Math.floor(random() * 12);
      const plugins = Array.from({ length: pluginCount }, (_, i) => `p${i}`);
      // a plugin only depends on plugins with a lower index: a DAG
      const edges: Record<string, string[]> = {};
      plugins.forEach((plugin, i) => {
        edges[plugin] = plugins.slice(0, i).filter(() => random() < 0.3);
      });
      const itemCount = Math.floor(random() * 16);
      const batch: BatchItem[] = Array.from({ length: itemCount }, (_, i) => ({
        key: `k${i}`,
        pluginId: plugins[Math.floor(random() * pluginCount)],
        action: actions[Math.floor(random() * actions.length)],
      }));
      return { items: batch, edges };
    }

    /** Whether `from` depends on `to` through one or more edges. */
    function dependsOnPlugin(
      edges: Record<string, string[]>,
      from: string,
      to: string,
    ): boolean {
      const seen = new Set<string>();
      const stack = [...(edges[from] ?? [])];
      while (stack.length) {
        const next = stack.pop()!;
        if (next === to) return true;
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(...(edges[next] ?? []));
        }
      }
      return false;
    }

    /** The waits the rules ask for, computed the slow and obvious way. */
    function requiredWaits({ items: batch, edges }: Scenario) {
      const required: Array<[string, string]> = []; // [waiter, waited for]
      batch.forEach((x, i) => {
        batch.forEach((y, j) => {
          if (i === j) return;
          if (x.pluginId === y.pluginId) {
            if (j < i) required.push([x.key, y.key]);
            return;
          }
          const xDown = isDownAction(x.action);
          const yDown = isDownAction(y.action);
          if (
            !xDown &&
            !yDown &&
            dependsOnPlugin(edges, x.pluginId, y.pluginId)
          ) {
            required.push([x.key, y.key]);
          }
          if (
            xDown &&
            yDown &&
            dependsOnPlugin(edges, y.pluginId, x.pluginId)
          ) {
            required.push([x.key, y.key]);
          }
        });
      });
      return required;
    }

    function closure(dependsOn: Record<string, string[]>, key: string) {
      const seen = new Set<string>();
      const stack = [...dependsOn[key]];
      while (stack.length) {
        const next = stack.pop()!;
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(...dependsOn[next]);
        }
      }
      return seen;
    }

    function hasCycle(keys: string[], required: Array<[string, string]>) {
      const out = new Map(keys.map(k => [k, [] as string[]]));
      for (const [a, b] of required) out.get(a)!.push(b);
      const state = new Map<string, number>();
      const visit = (k: string): boolean => {
        state.set(k, 1);
        for (const n of out.get(k)!) {
          if (state.get(n) === 1) return true;
          if (!state.get(n) && visit(n)) return true;
        }
        state.set(k, 2);
        return false;
      };
      return keys.some(k => !state.get(k) && visit(k));
    }

    /** Every way in which a plan breaks the rules; empty when it is valid. */
    function violations(scenario: Scenario, plan: BatchPlan): string[] {
      const problems: string[] = [];
      const check = (ok: boolean, problem: string) => {
        if (!ok) problems.push(problem);
      };
      const keys = [...scenario.items.map(i => i.key)].sort().join();
      // order, levels and dependsOn cover every key once
      check([...plan.order].sort().join() === keys, 'order is no permutation');
      check(
        plan.levels.flat().sort().join() === keys,
        'levels are no permutation',
      );
      check(
        Object.keys(plan.dependsOn).sort().join() === keys,
        'dependsOn keys',
      );
      check(
        plan.levels.every(level => level.length > 0),
        'empty level',
      );

      const at = new Map(plan.order.map((k, i) => [k, i]));
      const levelOf = new Map<string, number>();
      plan.levels.forEach((level, i) => level.forEach(k => levelOf.set(k, i)));

      const required = requiredWaits(scenario);
      const requiredSet = new Set(required.map(([a, b]) => `${a}|${b}`));
      for (const [waiter, waitedFor] of required) {
        const edge = `${waiter} waits for ${waitedFor}`;
        // every edge respects the order and the levels ...
        check(at.get(waitedFor)! < at.get(waiter)!, `order breaks ${edge}`);
        check(
          levelOf.get(waitedFor)! < levelOf.get(waiter)!,
          `levels break ${edge}`,
        );
        // ... and is implied by the direct waits
        check(
          closure(plan.dependsOn, waiter).has(waitedFor),
          `dependsOn misses ${edge}`,
        );
      }
      for (const [key, waits] of Object.entries(plan.dependsOn)) {
        for (const wait of waits) {
          const edge = `${key} waits for ${wait}`;
          // every direct wait is one the rules ask for
          check(requiredSet.has(`${key}|${wait}`), `unjustified ${edge}`);
          // no direct wait is implied by another one
          check(
            waits.every(
              other =>
                other === wait || !closure(plan.dependsOn, other).has(wait),
            ),
            `redundant ${edge}`,
          );
        }
        // a key sits in the first level after all of its waits
        const expectedLevel =
          waits.length === 0
            ? 0
            : Math.max(...waits.map(w => levelOf.get(w)!)) + 1;
        check(levelOf.get(key) === expectedLevel, `level of ${key}`);
      }
      return problems;
    }

    function attempt(fn: () => BatchPlan): BatchPlan | Error {
      try {
        return fn();
      } catch (error) {
        return error as Error;
      }
    }

    it('respects every dependency with only up actions', () => {
      const random = mulberry32(1);
      const problems: string[] = [];
      for (let run = 0; run < 300; run++) {
        const scenario = randomScenario(random, UP_ACTIONS);
        const plan = planBatch(scenario.items, graph(scenario.edges));
        problems.push(...violations(scenario, plan));
      }
      expect(problems).toEqual([]);
    });

    it('respects every dependency with only down actions', () => {
      const random = mulberry32(2);
      const problems: string[] = [];
      for (let run = 0; run < 300; run++) {
        const scenario = randomScenario(random, DOWN_ACTIONS);
        const plan = planBatch(scenario.items, graph(scenario.edges));
        problems.push(...violations(scenario, plan));
      }
      expect(problems).toEqual([]);
    });

    it('respects every dependency with mixed actions, or names a real cycle', () => {
      const random = mulberry32(3);
      const problems: string[] = [];
      let planned = 0;
      let rejected = 0;
      for (let run = 0; run < 500; run++) {
        const scenario = randomScenario(random, ALL_ACTIONS);
        const keys = scenario.items.map(i => i.key);
        const cyclic = hasCycle(keys, requiredWaits(scenario));
        const result = attempt(() =>
          planBatch(scenario.items, graph(scenario.edges)),
        );
        if (result instanceof Error) {
          rejected++;
          if (
            !cyclic ||
            !(result instanceof InputError) ||
            !result.message.startsWith('Batch items wait for each other')
          ) {
            problems.push(`run ${run}: unexpected ${result}`);
          }
        } else {
          planned++;
          if (cyclic) problems.push(`run ${run}: missed a cycle`);
          problems.push(...violations(scenario, result));
        }
      }
      expect(problems).toEqual([]);
      // both outcomes are exercised
      expect(planned).toBeGreaterThan(100);
      expect(rejected).toBeGreaterThan(0);
    });

    it('always detects a plugin cycle that passes through the batch', () => {
      const random = mulberry32(4);
      const problems: string[] = [];
      let cycles = 0;
      for (let run = 0; run < 200; run++) {
        const scenario = randomScenario(random, UP_ACTIONS);
        const plugins = Object.keys(scenario.edges);
        // add one edge, which may or may not close a cycle
        const from = plugins[Math.floor(random() * plugins.length)];
        const to = plugins[Math.floor(random() * plugins.length)];
        const edges = {
          ...scenario.edges,
          [from]: [...scenario.edges[from], to],
        };
        const inBatch = new Set(scenario.items.map(i => i.pluginId));
        const cyclic = [...inBatch].some(p => dependsOnPlugin(edges, p, p));
        const result = attempt(() => planBatch(scenario.items, graph(edges)));
        if (result instanceof Error) {
          cycles++;
          const cycle = result.message
            .replace(/^Dependency cycle: /, '')
            .split(' -> ');
          // the named cycle is real, starts and ends at a batch plugin
          const real =
            result instanceof InputError &&
            cycle.length >= 2 &&
            cycle[0] === cycle[cycle.length - 1] &&
            inBatch.has(cycle[0]) &&
            cycle.every((p, i) => i === 0 || edges[cycle[i - 1]].includes(p));
          if (!cyclic || !real) {
            problems.push(`run ${run}: unexpected ${result}`);
          }
        } else {
          if (cyclic) problems.push(`run ${run}: missed a cycle`);
          problems.push(
            ...violations({ items: scenario.items, edges }, result),
          );
        }
      }
      expect(problems).toEqual([]);
      expect(cycles).toBeGreaterThan(10);
    });
  });
});
