import { InputError } from '@backstage/errors';
import { DEFAULT_PANIC_THRESHOLD, routingMode } from './eligibility';
import { BalancedInstance, ClientInfo, LoadBalancingOptions } from './types';

/**
 * A change to the live fields of an instance. A key that is present with
 * the value `undefined` clears that optional field.
 *
 * @public
 */
export type InstancePatch = Partial<Omit<BalancedInstance, 'id'>>;

/** Something that keeps derived state about a pool's instances. */
export interface PoolMember {
  /** Called after anything about the instance at `index` changed. */
  sync(index: number): void;
}

/** A strategy's state over one pool. */
export interface Strategy {
  /**
   * The index of the chosen instance, or -1. In panic routing the choice is
   * among the pool's panic candidates, otherwise among its eligible ones.
   */
  pick(client: ClientInfo, panic: boolean): number;
}

const DEFAULT_VIRTUAL_NODES = 160;
const MAX_VIRTUAL_NODES = 10_000;

/** The fields of an instance that can change without a new snapshot. */
export const LIVE_FIELDS = [
  'weight',
  'activeConnections',
  'maxConnections',
  'healthScore',
  'ready',
  'ejectedUntil',
] as const;

const PATCHABLE_KEYS: ReadonlySet<string> = new Set(LIVE_FIELDS);

type Result = { instance: BalancedInstance; panic: boolean };

/** Options with their defaults applied, checked. */
export interface ResolvedOptions {
  panicThreshold: number;
  virtualNodes: number;
}

/**
 * Checks the options shared by the pickers and fills in the defaults.
 * Throws an `InputError` for values out of range.
 */
export function resolveOptions(
  options: LoadBalancingOptions = {},
): ResolvedOptions {
  const {
    panicThreshold = DEFAULT_PANIC_THRESHOLD,
    virtualNodes = DEFAULT_VIRTUAL_NODES,
  } = options;
  if (
    typeof panicThreshold !== 'number' ||
    !(panicThreshold >= 0 && panicThreshold <= 1)
  ) {
    throw new InputError(
      `panicThreshold must be a number from 0 to 1, got ${panicThreshold}`,
    );
  }
  if (
    !Number.isInteger(virtualNodes) ||
    virtualNodes < 1 ||
    virtualNodes > MAX_VIRTUAL_NODES
  ) {
    throw new InputError(
      `virtualNodes must be a whole number from 1 to ${MAX_VIRTUAL_NODES}, got ${virtualNodes}`,
    );
  }
  return { panicThreshold, virtualNodes };
}

function invalid(id: string, field: string, value: unknown, rule: string) {
  return new InputError(
    `Instance "${id}" has an invalid ${field} ${String(value)}: ${rule}`,
  );
}

function checkFields(id: string, fields: InstancePatch) {
  const {
    weight,
    activeConnections,
    maxConnections,
    healthScore,
    ready,
    ejectedUntil,
  } = fields;
  if (
    'weight' in fields &&
    (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0)
  ) {
    throw invalid(
      id,
      'weight',
      weight,
      'it must be a finite number of at least 0',
    );
  }
  if (
    'activeConnections' in fields &&
    (typeof activeConnections !== 'number' ||
      !Number.isFinite(activeConnections) ||
      activeConnections < 0)
  ) {
    throw invalid(
      id,
      'activeConnections',
      activeConnections,
      'it must be a finite number of at least 0',
    );
  }
  if (
    maxConnections !== undefined &&
    (typeof maxConnections !== 'number' || !(maxConnections >= 0))
  ) {
    throw invalid(
      id,
      'maxConnections',
      maxConnections,
      'it must be a number of at least 0',
    );
  }
  if (
    healthScore !== undefined &&
    (typeof healthScore !== 'number' || !(healthScore >= 0 && healthScore <= 1))
  ) {
    throw invalid(
      id,
      'healthScore',
      healthScore,
      'it must be a number from 0 to 1',
    );
  }
  if ('ready' in fields && typeof ready !== 'boolean') {
    throw invalid(id, 'ready', ready, 'it must be true or false');
  }
  if (
    ejectedUntil !== undefined &&
    (typeof ejectedUntil !== 'number' || Number.isNaN(ejectedUntil))
  ) {
    throw invalid(
      id,
      'ejectedUntil',
      ejectedUntil,
      'it must be a time in ms since the epoch',
    );
  }
}

/**
 * Checks a snapshot of instances: unique non-empty ids, weights and
 * connection counts that are finite and at least 0, health scores from 0
 * to 1. Throws an `InputError` naming the first offending instance.
 *
 * @public
 */
export function validateInstances(
  instances: readonly BalancedInstance[],
): void {
  if (!Array.isArray(instances)) {
    throw new InputError('Instances must be an array');
  }
  const seen = new Set<string>();
  for (const instance of instances) {
    const id = instance?.id;
    if (typeof id !== 'string' || id === '') {
      throw new InputError(
        `Every instance needs a non-empty string id, got ${String(id)}`,
      );
    }
    if (seen.has(id)) {
      throw new InputError(`Instance id "${id}" appears more than once`);
    }
    seen.add(id);
    checkFields(id, {
      weight: instance.weight,
      activeConnections: instance.activeConnections,
      maxConnections: instance.maxConnections,
      healthScore: instance.healthScore,
      ready: instance.ready,
      ejectedUntil: instance.ejectedUntil,
    });
  }
}

/**
 * Checks a patch for {@link InstancePool.update}, like
 * {@link validateInstances} checks whole instances.
 */
export function validatePatch(id: string, patch: InstancePatch): void {
  if (typeof patch !== 'object' || patch === null) {
    throw new InputError(`The change to instance "${id}" must be an object`);
  }
  for (const key of Object.keys(patch)) {
    if (!PATCHABLE_KEYS.has(key)) {
      throw new InputError(
        `Cannot change ${key} of instance "${id}"; changeable are ${[
          ...PATCHABLE_KEYS,
        ].join(', ')}`,
      );
    }
  }
  for (const key of ['weight', 'activeConnections', 'ready'] as const) {
    if (key in patch && patch[key] === undefined) {
      throw new InputError(`The ${key} of instance "${id}" cannot be cleared`);
    }
  }
  checkFields(id, patch);
}

/**
 * A frozen copy of an instance with only its known fields, the `patch`
 * applied on top. Built field by field: spreading a frozen object is
 * several times slower, and a proxy changes connection counts per request.
 */
function snapshot(
  instance: BalancedInstance,
  patch?: InstancePatch,
): BalancedInstance {
  const pick = <K extends keyof InstancePatch>(key: K) =>
    patch && key in patch ? patch[key] : instance[key];
  const copy: BalancedInstance = {
    id: instance.id,
    weight: pick('weight')!,
    activeConnections: pick('activeConnections')!,
    ready: pick('ready')!,
  };
  const maxConnections = pick('maxConnections');
  if (maxConnections !== undefined) copy.maxConnections = maxConnections;
  const healthScore = pick('healthScore');
  if (healthScore !== undefined) copy.healthScore = healthScore;
  const ejectedUntil = pick('ejectedUntil');
  if (ejectedUntil !== undefined) copy.ejectedUntil = ejectedUntil;
  return Object.freeze(copy);
}

/**
 * The instances of one service as the strategies see them: a validated
 * copy, column by column in typed arrays, with each instance's eligibility
 * kept up to date as instances change and ejections expire. Strategies read
 * the columns on the hot path and register as members to hear of changes.
 *
 * The instance objects handed out are frozen snapshots; a change replaces
 * them.
 */
export class InstancePool {
  readonly size: number;
  readonly ids: readonly string[];
  readonly options: ResolvedOptions;
  readonly weight: Float64Array;
  /** healthScore, 1 when missing. */
  readonly health: Float64Array;
  readonly active: Float64Array;
  /** maxConnections, Infinity when missing. */
  readonly maxConnections: Float64Array;
  /** ejectedUntil, -Infinity when missing. */
  readonly ejectedUntil: Float64Array;
  readonly ready: Uint8Array;
  /** 1 where the instance may take traffic in normal routing. */
  readonly eligible: Uint8Array;
  /** 1 where the instance may take traffic in panic routing. */
  readonly candidate: Uint8Array;

  readonly #indexById = new Map<string, number>();
  readonly #instances: BalancedInstance[];
  readonly #normal: (Result | undefined)[];
  readonly #panic: (Result | undefined)[];
  readonly #members: PoolMember[] = [];
  readonly #weighted: Uint8Array;
  #eligibleCount = 0;
  #candidateCount = 0;
  #weightedCount = 0;
  // Ejections were last evaluated at #evaluatedAt; the outcome holds for
  // any time in [#windowStart, #windowEnd), so a pick checks two numbers
  // instead of every instance.
  #evaluatedAt = -Infinity;
  #windowStart = Infinity;
  #windowEnd = -Infinity;

  /** Validates the instances and copies them; the input is not kept. */
  static create(
    instances: readonly BalancedInstance[],
    options: LoadBalancingOptions | ResolvedOptions = {},
  ): InstancePool {
    validateInstances(instances);
    return new InstancePool(
      instances.map(instance => snapshot(instance)),
      resolveOptions(options),
    );
  }

  private constructor(instances: BalancedInstance[], options: ResolvedOptions) {
    const n = instances.length;
    this.size = n;
    this.options = options;
    this.ids = instances.map(i => i.id);
    this.#instances = instances;
    this.weight = new Float64Array(n);
    this.health = new Float64Array(n);
    this.active = new Float64Array(n);
    this.maxConnections = new Float64Array(n);
    this.ejectedUntil = new Float64Array(n);
    this.ready = new Uint8Array(n);
    this.eligible = new Uint8Array(n);
    this.candidate = new Uint8Array(n);
    this.#weighted = new Uint8Array(n);
    this.#normal = new Array(n);
    this.#panic = new Array(n);
    instances.forEach((instance, index) => {
      this.#indexById.set(instance.id, index);
      this.#load(index, instance);
      this.#classify(index);
    });
  }

  /** The index of the instance with this id, or -1. */
  indexOf(id: string): number {
    return this.#indexById.get(id) ?? -1;
  }

  instance(index: number): BalancedInstance {
    return this.#instances[index];
  }

  instances(): readonly BalancedInstance[] {
    return this.#instances;
  }

  /**
   * The pick result for an instance, made on its first pick after a change
   * and then reused, so that picks do not allocate.
   */
  result(index: number, panic: boolean): Result {
    const results = panic ? this.#panic : this.#normal;
    return (results[index] ??= Object.freeze({
      instance: this.#instances[index],
      panic,
    }));
  }

  /** Registers a strategy's derived state; it must already match the pool. */
  subscribe(member: PoolMember): void {
    this.#members.push(member);
  }

  /** How a pick at `now` routes; see {@link routingMode}. */
  mode(now: number): 'normal' | 'panic' | 'none' {
    if (now < this.#windowStart || now >= this.#windowEnd) {
      this.#evaluateEjections(now);
    }
    return routingMode(
      this.#eligibleCount,
      this.#candidateCount,
      this.#weightedCount,
      this.options.panicThreshold,
    );
  }

  /** Validates a change to the instance at `index` and applies it. */
  update(index: number, patch: InstancePatch): void {
    validatePatch(this.ids[index], patch);
    this.#load(index, snapshot(this.#instances[index], patch));
    const until = this.ejectedUntil[index];
    // keep the ejection window honest for the changed instance only
    if (until > this.#evaluatedAt) {
      this.#windowEnd = Math.min(this.#windowEnd, until);
    } else {
      this.#windowStart = Math.max(this.#windowStart, until);
    }
    this.#classify(index);
    for (const member of this.#members) member.sync(index);
  }

  #load(index: number, instance: BalancedInstance) {
    this.#instances[index] = instance;
    this.#normal[index] = undefined;
    this.#panic[index] = undefined;
    this.weight[index] = instance.weight;
    this.health[index] = instance.healthScore ?? 1;
    this.active[index] = instance.activeConnections;
    this.maxConnections[index] = instance.maxConnections ?? Infinity;
    this.ejectedUntil[index] = instance.ejectedUntil ?? -Infinity;
    this.ready[index] = instance.ready ? 1 : 0;
  }

  /** Recomputes the flags and counts of one instance; true if a flag changed. */
  #classify(index: number): boolean {
    const weighted = this.weight[index] > 0;
    const roomy = this.active[index] < this.maxConnections[index];
    // Panic relaxes ejection, never readiness (see isPanicCandidate).
    const candidate = weighted && roomy && this.ready[index] === 1 ? 1 : 0;
    const eligible =
      candidate === 1 && !(this.ejectedUntil[index] > this.#evaluatedAt)
        ? 1
        : 0;
    const weightedFlag = weighted ? 1 : 0;
    this.#weightedCount += weightedFlag - this.#weighted[index];
    this.#weighted[index] = weightedFlag;
    const changed =
      eligible !== this.eligible[index] || candidate !== this.candidate[index];
    this.#eligibleCount += eligible - this.eligible[index];
    this.#candidateCount += candidate - this.candidate[index];
    this.eligible[index] = eligible;
    this.candidate[index] = candidate;
    return changed;
  }

  #evaluateEjections(now: number) {
    this.#evaluatedAt = now;
    let start = -Infinity;
    let end = Infinity;
    for (let i = 0; i < this.size; i++) {
      const until = this.ejectedUntil[i];
      if (until > now) {
        if (until < end) end = until;
      } else if (until > start) {
        start = until;
      }
      if (this.#classify(i)) {
        for (const member of this.#members) member.sync(i);
      }
    }
    this.#windowStart = start;
    this.#windowEnd = end;
  }
}
