import { ConflictError, InputError } from '@backstage/errors';
import { ProbeDeadline, errorMessage } from './deadline';
import { Probe, ProbeOutcome, Prober, ProbeTarget } from './types';

/**
 * What a custom probe function may answer: a plain pass/fail, or an outcome
 * (whose latency is measured for it when left out).
 *
 * @public
 */
export type CustomProbeResult =
  | boolean
  | (Omit<ProbeOutcome, 'latencyMs'> & { latencyMs?: number });

/**
 * A probe implemented by another backend plugin. It should stop when the
 * signal aborts; the probe fails at its timeout either way.
 *
 * @public
 */
export type CustomProbeFunction = (
  target: ProbeTarget,
  probe: Probe,
  signal: AbortSignal,
) => Promise<CustomProbeResult> | CustomProbeResult;

/** @public */
export interface CustomProberOptions {
  functions?: Record<string, CustomProbeFunction>;
}

/**
 * Runs the named functions that probes of method `custom` refer to
 * (`custom.name`). Other backend plugins register them.
 *
 * @public
 */
export class CustomProber implements Prober {
  readonly method = 'custom';
  readonly #functions = new Map<string, CustomProbeFunction>();

  private constructor(options: CustomProberOptions) {
    for (const [name, fn] of Object.entries(options.functions ?? {})) {
      this.register(name, fn);
    }
  }

  static create(options: CustomProberOptions = {}): CustomProber {
    return new CustomProber(options);
  }

  /**
   * Adds a named probe function.
   *
   * @throws InputError for an empty name or something not a function
   * @throws ConflictError when the name is taken
   */
  register(name: string, fn: CustomProbeFunction): void {
    if (!name) {
      throw new InputError('A custom probe function needs a name');
    }
    if (typeof fn !== 'function') {
      throw new InputError(`Custom probe '${name}' must be a function`);
    }
    if (this.#functions.has(name)) {
      throw new ConflictError(
        `A custom probe function named '${name}' is already registered`,
      );
    }
    this.#functions.set(name, fn);
  }

  has(name: string): boolean {
    return this.#functions.has(name);
  }

  /** The registered names, sorted. */
  names(): string[] {
    return [...this.#functions.keys()].sort();
  }

  async probe(
    target: ProbeTarget,
    probe: Probe,
    signal: AbortSignal,
  ): Promise<ProbeOutcome> {
    const deadline = ProbeDeadline.start(probe, signal);
    try {
      const name = probe.custom?.name;
      if (!name) {
        return deadline.fail('a custom probe needs its "custom" settings');
      }
      const fn = this.#functions.get(name);
      if (!fn) {
        const known = this.names();
        return deadline.fail(
          `no custom probe function named '${name}' is registered${
            known.length ? ` (known: ${known.join(', ')})` : ''
          }`,
        );
      }
      if (deadline.aborted) return deadline.fail(deadline.reason());

      const aborted = new Promise<'aborted'>(resolve =>
        deadline.signal.addEventListener('abort', () => resolve('aborted'), {
          once: true,
        }),
      );
      const result = await Promise.race([
        Promise.resolve().then(() => fn(target, probe, deadline.signal)),
        aborted,
      ]);
      if (result === 'aborted') return deadline.fail(deadline.reason());
      return toOutcome(name, result, deadline);
    } catch (error) {
      if (deadline.aborted) return deadline.fail(deadline.reason());
      return deadline.fail(`custom probe failed: ${errorMessage(error)}`);
    } finally {
      deadline.dispose();
    }
  }
}

function toOutcome(
  name: string,
  result: unknown,
  deadline: ProbeDeadline,
): ProbeOutcome {
  if (typeof result === 'boolean') {
    return { ok: result, latencyMs: deadline.elapsedMs() };
  }
  if (
    result &&
    typeof result === 'object' &&
    typeof (result as { ok?: unknown }).ok === 'boolean'
  ) {
    const { ok, latencyMs, message, statusCode } = result as Exclude<
      CustomProbeResult,
      boolean
    >;
    return {
      ok,
      latencyMs:
        typeof latencyMs === 'number' ? latencyMs : deadline.elapsedMs(),
      ...(message === undefined ? {} : { message: String(message) }),
      ...(typeof statusCode === 'number' ? { statusCode } : {}),
    };
  }
  return deadline.fail(
    `custom probe '${name}' answered neither a boolean nor an outcome`,
  );
}
