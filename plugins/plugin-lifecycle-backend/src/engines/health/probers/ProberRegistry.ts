import { CustomProber } from './CustomProber';
import { ExecProber, ExecProberOptions } from './ExecProber';
import { printableMessage } from '../../../domain/health/printable';
import { errorMessage } from './deadline';
import { GrpcProber, GrpcProberOptions } from './GrpcProber';
import { HttpProber, HttpProberOptions } from './HttpProber';
import { TcpProber } from './TcpProber';
import { Probe, ProbeOutcome, Prober, ProbeTarget } from './types';
import { TargetPolicy } from '../../discovery/TargetPolicy';

/** The probe methods that connect to a host and port. */
const NETWORK_METHODS = new Set(['http', 'tcp', 'grpc']);

function probePort(target: ProbeTarget, probe: Probe): number {
  switch (probe.method) {
    case 'http':
      return probe.http?.port ?? target.port;
    case 'tcp':
      return probe.tcp?.port ?? target.port;
    case 'grpc':
      return probe.grpc?.port ?? target.port;
    default:
      return target.port;
  }
}

/** @public */
export interface ProberRegistryOptions {
  /** The custom probe functions; an empty set by default. */
  custom?: CustomProber;
  http?: HttpProberOptions;
  grpc?: GrpcProberOptions;
  exec?: ExecProberOptions;
  /**
   * Where HTTP, TCP and gRPC probes may connect (`discovery.allowedTargets`),
   * so a probe cannot scan ports. Default: anywhere.
   */
  targets?: TargetPolicy;
}

/**
 * The probers of every probe method, and the one place that runs a probe.
 *
 * @public
 */
export class ProberRegistry {
  readonly #probers: Map<string, Prober>;
  readonly #custom: CustomProber;
  readonly #targets: TargetPolicy | undefined;

  private constructor(options: ProberRegistryOptions) {
    this.#custom = options.custom ?? CustomProber.create();
    this.#targets = options.targets;
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
    // A registered service's health check is a caller's: it may not make
    // this backend a port scanner. (Instances are where runtimes put them.)
    if (
      this.#targets &&
      target.serviceName !== undefined &&
      NETWORK_METHODS.has(probe.method)
    ) {
      const refused = await this.#targets.check(
        target.host,
        probePort(target, probe),
      );
      if (refused) {
        return { ok: false, latencyMs: 0, message: `not probed: ${refused}` };
      }
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
