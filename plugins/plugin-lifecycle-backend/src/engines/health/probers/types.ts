import { ProbeDefinition } from '@internal/plugin-lifecycle-common';

/**
 * A probe definition, as declared in a plugin's manifest or install request.
 *
 * @public
 */
export type Probe = ProbeDefinition;

/**
 * What a probe runs against: one running instance.
 *
 * @public
 */
export interface ProbeTarget {
  host: string;
  port: number;
  instanceId: string;
  pluginId: string;
  /** Set when the target is a registered service rather than a plugin instance. */
  serviceName?: string;
}

/**
 * The result of one probe run.
 *
 * @public
 */
export interface ProbeOutcome {
  ok: boolean;
  /** From the start of the run to its result, in ms. */
  latencyMs: number;
  /** What happened, for people: the status, the error, the output. */
  message?: string;
  /** The HTTP status, the gRPC status code or the exit code. */
  statusCode?: number;
}

/**
 * Runs probes of one method.
 *
 * A prober never throws: errors, timeouts (`timeoutSeconds`, 1 s by default
 * as in Kubernetes) and aborts are outcomes with `ok: false`; a timeout says
 * 'timed out after Nms'.
 *
 * @public
 */
export interface Prober {
  readonly method: string;
  probe(
    target: ProbeTarget,
    probe: Probe,
    signal: AbortSignal,
  ): Promise<ProbeOutcome>;
  /** Releases connections and clients kept between probes. */
  close?(): Promise<void>;
}
