import { CustomProber } from './CustomProber';
import { ExecProber, ExecProberOptions } from './ExecProber';
import { printableMessage } from '../../../domain/health/printable';
import { errorMessage } from './deadline';
import { GrpcProber, GrpcProberOptions } from './GrpcProber';
import { HttpProber, HttpProberOptions } from './HttpProber';
import { TcpProber } from './TcpProber';
import { Probe, ProbeOutcome, Prober, ProbeTarget } from './types';

/** @public */
export interface ProberRegistryOptions {
  /** The custom probe functions; an empty set by default. */
  custom?: CustomProber;
  http?: HttpProberOptions;
  grpc?: GrpcProberOptions;
  exec?: ExecProberOptions;
}

/**
 * The probers of every probe method, and the one place that runs a probe.
 *
 * @public
 */
export class ProberRegistry {
  readonly #probers: Map<string, Prober>;
  readonly #custom: CustomProber;

  private constructor(options: ProberRegistryOptions) {
    this.#custom = options.custom ?? CustomProber.create();
    const probers: Prober[] = [
      HttpProber.create(options.http),
      TcpProber.create(),
      GrpcProber.create(options.grpc),
      ExecProber.create(options.exec),
      this.#custom,
    ];
    this.#probers = new Map(probers.map(p => [p.method, p]));
  }

  static create(options: ProberRegistryOptions = {}): ProberRegistry {
    return new ProberRegistry(options);
  }

  /** Where custom probe functions are registered. */
  get custom(): CustomProber {
    return this.#custom;
  }

  /** The prober of a method, if there is one. */
  get(method: string): Prober | undefined {
    return this.#probers.get(method);
  }

  /** Runs a probe with the prober of its method; never throws. */
  async run(
    target: ProbeTarget,
    probe: Probe,
    signal: AbortSignal = new AbortController().signal,
  ): Promise<ProbeOutcome> {
    const prober = this.#probers.get(probe.method);
    if (!prober) {
      return {
        ok: false,
        latencyMs: 0,
        message: `no prober for method '${probe.method}'`,
      };
    }
    let outcome: ProbeOutcome;
    try {
      outcome = await prober.probe(target, probe, signal);
    } catch (error) {
      // A prober should not throw; one that does still gives an outcome.
      outcome = { ok: false, latencyMs: 0, message: errorMessage(error) };
    }
    // A message carries a command's or a service's output: escaped and
    // bounded here, before any log line, stored result or answer has it.
    return outcome.message === undefined
      ? outcome
      : { ...outcome, message: printableMessage(outcome.message) };
  }

  /** Closes the connections and clients the probers keep. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#probers.values()].map(p => p.close?.().catch(() => {})),
    );
  }
}
