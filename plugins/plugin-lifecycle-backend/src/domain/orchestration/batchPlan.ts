import { InputError } from '@backstage/errors';
import {
  LIFECYCLE_ACTIONS,
  LifecycleAction,
} from '@internal/plugin-lifecycle-common';

/**
 * One requested action in a batch.
 *
 * @public
 */
export interface BatchItem {
  /** Unique within the batch, for example the item's index. */
  key: string;
  pluginId: string;
  action: LifecycleAction;
}

/**
 * The order in which the items of a batch may run.
 *
 * @public
 */
export interface BatchPlan {
  /** Every key once, each after all the keys it waits for. */
  order: string[];
  /**
   * For every key, the keys it waits for directly. Waits implied by other
   * waits are left out: if `a` waits for `b` and `b` for `c`, `a` lists
   * only `b`.
   */
  dependsOn: Record<string, string[]>;
  /**
   * The keys grouped in waves: every key in a wave waits only for keys in
   * earlier waves, so a wave can run in parallel.
   */
  levels: string[][];
}

const DOWN_ACTIONS: ReadonlySet<LifecycleAction> = new Set<LifecycleAction>([
  'stop',
  'uninstall',
  'maintenance-on',
]);

/**
 * Whether an action takes a plugin down (stop, uninstall, maintenance-on).
 * Down actions run on dependents before their dependencies; every other
 * action runs on dependencies before their dependents.
 *
 * @public
 */
export function isDownAction(action: LifecycleAction): boolean {
  return DOWN_ACTIONS.has(action);
}

/**
 * Orders the items of a batch so that dependencies come up before the plugins
 * that need them, and dependents go down before the plugins they need.
 *
 * - An "up" item (install, update, configure, start, restart,
 *   maintenance-off) on plugin P waits for the up items on the plugins P
 *   depends on.
 * - A "down" item (stop, uninstall, maintenance-on) on plugin D waits for the
 *   down items on the plugins that depend on D.
 * - Items on the same plugin run in the order given.
 *
 * Dependencies are followed transitively, also through plugins that are not
 * in the batch: if `a` depends on `b` and `b` on `c`, a start of `a` waits for
 * a start of `c` even when `b` is not in the batch.
 *
 * @param items - the batch; keys must be unique
 * @param dependenciesOf - the ids of the plugins a plugin depends on, from
 *   its manifest; called for batch plugins and for the plugins they reach
 * @throws InputError for duplicate keys, unknown actions, a dependency cycle
 *   through a plugin of the batch, or items on the same plugin whose given
 *   order contradicts the dependency order
 * @public
 */
export function planBatch(
  items: BatchItem[],
  dependenciesOf: (pluginId: string) => string[],
): BatchPlan {
  validateItems(items);

  const itemsByPlugin = new Map<string, number[]>();
  items.forEach((item, index) => {
    const list = itemsByPlugin.get(item.pluginId);
    if (list) list.push(index);
    else itemsByPlugin.set(item.pluginId, [index]);
  });
  const batchPlugins = [...itemsByPlugin.keys()];

  const reach = reachableBatchPlugins(
    batchPlugins,
    new Set(batchPlugins),
    memoize(dependenciesOf),
  );

  // Every wait the rules ask for, as sets of item indices.
  const waits: Set<number>[] = items.map(() => new Set<number>());
  for (const indices of itemsByPlugin.values()) {
    for (let i = 1; i < indices.length; i++) {
      waits[indices[i]].add(indices[i - 1]);
    }
  }
  for (const [plugin, dependencies] of reach) {
    for (const dependency of dependencies) {
      for (const dependentItem of itemsByPlugin.get(plugin)!) {
        for (const dependencyItem of itemsByPlugin.get(dependency)!) {
          const dependentDown = isDownAction(items[dependentItem].action);
          const dependencyDown = isDownAction(items[dependencyItem].action);
          if (!dependentDown && !dependencyDown) {
            waits[dependentItem].add(dependencyItem);
          } else if (dependentDown && dependencyDown) {
            waits[dependencyItem].add(dependentItem);
          }
        }
      }
    }
  }

  const topological = topologicalOrder(waits);
  if (!topological) {
    throw new InputError(describeItemCycle(items, waits));
  }

  const direct = transitiveReduction(waits, topological);

  const level: number[] = new Array(items.length).fill(0);
  for (const index of topological) {
    for (const wait of direct[index]) {
      level[index] = Math.max(level[index], level[wait] + 1);
    }
  }
  const levels: string[][] = [];
  items.forEach((item, index) => {
    (levels[level[index]] ??= []).push(item.key);
  });

  return {
    order: topological.map(index => items[index].key),
    // fromEntries defines own properties, so keys like "__proto__" are safe
    dependsOn: Object.fromEntries(
      items.map((item, index) => [
        item.key,
        [...direct[index]].sort((x, y) => x - y).map(i => items[i].key),
      ]),
    ),
    levels,
  };
}

function validateItems(items: BatchItem[]) {
  if (!Array.isArray(items)) {
    throw new InputError('Batch items must be an array');
  }
  const keys = new Set<string>();
  for (const item of items) {
    if (typeof item?.key !== 'string' || item.key === '') {
      throw new InputError('Every batch item needs a non-empty key');
    }
    if (keys.has(item.key)) {
      throw new InputError(`Duplicate batch item key '${item.key}'`);
    }
    keys.add(item.key);
    if (typeof item.pluginId !== 'string' || item.pluginId === '') {
      throw new InputError(`Batch item '${item.key}' needs a pluginId`);
    }
    if (!Object.prototype.hasOwnProperty.call(LIFECYCLE_ACTIONS, item.action)) {
      throw new InputError(
        `Batch item '${item.key}' has unknown action '${String(item.action)}'`,
      );
    }
  }
}

function memoize(
  dependenciesOf: (pluginId: string) => string[],
): (pluginId: string) => string[] {
  const cache = new Map<string, string[]>();
  return pluginId => {
    let dependencies = cache.get(pluginId);
    if (!dependencies) {
      dependencies = [...new Set(dependenciesOf(pluginId) ?? [])];
      cache.set(pluginId, dependencies);
    }
    return dependencies;
  };
}

/**
 * For every batch plugin, the other batch plugins it depends on directly or
 * through any chain of plugins. Throws on a cycle through a batch plugin;
 * cycles among plugins outside the batch do not affect its order and are
 * left to whoever manages those plugins.
 */
function reachableBatchPlugins(
  batchPlugins: string[],
  inBatch: ReadonlySet<string>,
  dependenciesOf: (pluginId: string) => string[],
): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const start of batchPlugins) {
    // Breadth-first, so a cycle back to `start` is reported by its shortest
    // path, which is the easiest to read.
    const parent = new Map<string, string>();
    const queue = [start];
    const reached: string[] = [];
    for (let head = 0; head < queue.length; head++) {
      const current = queue[head];
      for (const dependency of dependenciesOf(current)) {
        if (dependency === start) {
          const chain: string[] = [];
          for (let at = current; at !== start; at = parent.get(at)!) {
            chain.unshift(at);
          }
          const path = [start, ...chain, start];
          throw new InputError(`Dependency cycle: ${path.join(' -> ')}`);
        }
        if (!parent.has(dependency)) {
          parent.set(dependency, current);
          queue.push(dependency);
          if (inBatch.has(dependency)) reached.push(dependency);
        }
      }
    }
    result.set(start, reached);
  }
  return result;
}

/** A small binary min-heap of item indices. */
class MinHeap {
  private readonly values: number[] = [];

  get size() {
    return this.values.length;
  }

  push(value: number) {
    const values = this.values;
    values.push(value);
    let at = values.length - 1;
    while (at > 0) {
      const up = (at - 1) >> 1;
      if (values[up] <= value) break;
      values[at] = values[up];
      at = up;
    }
    values[at] = value;
  }

  pop(): number {
    const values = this.values;
    const top = values[0];
    const last = values.pop()!;
    if (values.length > 0) {
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        if (left >= values.length) break;
        const right = left + 1;
        const child =
          right < values.length && values[right] < values[left] ? right : left;
        if (values[child] >= last) break;
        values[at] = values[child];
        at = child;
      }
      values[at] = last;
    }
    return top;
  }
}

/**
 * Kahn's algorithm that always takes the ready item given first, so the plan
 * stays as close to the requested order as the waits allow. Returns
 * undefined when the waits contain a cycle.
 */
function topologicalOrder(waits: Set<number>[]): number[] | undefined {
  const remaining = waits.map(w => w.size);
  const waiters: number[][] = waits.map(() => []);
  waits.forEach((w, index) => w.forEach(wait => waiters[wait].push(index)));

  const ready = new MinHeap();
  remaining.forEach((count, index) => {
    if (count === 0) ready.push(index);
  });
  const order: number[] = [];
  while (ready.size > 0) {
    const index = ready.pop();
    order.push(index);
    for (const waiter of waiters[index]) {
      if (--remaining[waiter] === 0) ready.push(waiter);
    }
  }
  return order.length === waits.length ? order : undefined;
}

/** Drops every wait that is implied by another wait of the same item. */
function transitiveReduction(
  waits: Set<number>[],
  topological: number[],
): Set<number>[] {
  const ancestors: Set<number>[] = waits.map(() => new Set<number>());
  for (const index of topological) {
    for (const wait of waits[index]) {
      ancestors[index].add(wait);
      ancestors[wait].forEach(a => ancestors[index].add(a));
    }
  }
  return waits.map(
    w =>
      new Set(
        [...w].filter(
          candidate =>
            ![...w].some(
              other => other !== candidate && ancestors[other].has(candidate),
            ),
        ),
      ),
  );
}

/**
 * Explains a cycle among items: the given order of items on one plugin
 * contradicts the dependency order, e.g. "start a, then stop a" while a
 * dependency of `a` is stopped before being started.
 */
function describeItemCycle(items: BatchItem[], waits: Set<number>[]): string {
  const state: number[] = new Array(items.length).fill(0); // 0 new, 1 on path, 2 done
  const path: number[] = [];
  const visit = (index: number): number[] | undefined => {
    state[index] = 1;
    path.push(index);
    for (const wait of [...waits[index]].sort((x, y) => x - y)) {
      if (state[wait] === 1) {
        return [...path.slice(path.indexOf(wait)), wait];
      }
      if (state[wait] === 0) {
        const found = visit(wait);
        if (found) return found;
      }
    }
    path.pop();
    state[index] = 2;
    return undefined;
  };
  let cycle: number[] | undefined;
  for (let index = 0; index < items.length && !cycle; index++) {
    if (state[index] === 0) cycle = visit(index);
  }
  const describe = (index: number) =>
    `${items[index].action} ${items[index].pluginId} [${items[index].key}]`;
  return `Batch items wait for each other in a cycle: ${cycle!
    .map(describe)
    .join(
      ' -> ',
    )}; reorder the items on the same plugin to match the dependency order`;
}
