import { NotAllowedError } from '@backstage/errors';
import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { assertWithinProbeLimits, ProbeLimits } from './probeLimits';

/** The app-config key of the commands any exec probe may run. */
export const EXEC_ALLOWED_COMMANDS_KEY =
  'pluginLifecycle.health.exec.allowedCommands';

/** The app-config key that lets one plugin's probes run any command. */
export function pluginExecKey(pluginId: string): string {
  return `pluginLifecycle.plugins.${pluginId}.allowExecProbes`;
}

/**
 * Options of {@link ExecProbePolicy.create}.
 *
 * @public
 */
export interface ExecProbePolicyOptions {
  /**
   * Commands (argv[0], compared as written: `sh` does not allow `/bin/sh`)
   * that any exec probe may run.
   */
  allowedCommands?: string[];
  /** Plugin ids whose own probes may run any command. */
  allowedPlugins?: string[];
  /**
   * How often and how many probes a caller may ask for; unchecked when not
   * given (the backend always gives app-config's).
   */
  limits?: ProbeLimits;
}

/** Where a probe comes from: a plugin's probes, or a registered service's health check. */
export type ExecProbeSource =
  | { kind: 'plugin'; pluginId: string; origin?: string }
  | { kind: 'service'; serviceName: string };

/**
 * Which commands exec probes may run. An exec probe runs a command on the
 * backend's host with the backend's user, so it is the operator's choice in
 * app-config, never a caller's: by default every exec probe is refused.
 *
 * A registered service's health check goes by `allowedCommands` only: the
 * plugin id a service names is the caller's word, so a plugin's allowance
 * does not extend to it.
 *
 * @public
 */
export class ExecProbePolicy {
  readonly #commands: ReadonlySet<string>;
  readonly #plugins: ReadonlySet<string>;
  readonly #limits: ProbeLimits | undefined;

  private constructor(options: ExecProbePolicyOptions) {
    this.#commands = new Set(options.allowedCommands ?? []);
    this.#plugins = new Set(options.allowedPlugins ?? []);
    this.#limits = options.limits;
  }

  static create(options: ExecProbePolicyOptions = {}): ExecProbePolicy {
    return new ExecProbePolicy(options);
  }

  /** Whether a command may run for a probe from this source. */
  allows(command: string, source: ExecProbeSource): boolean {
    if (this.#commands.has(command)) return true;
    return source.kind === 'plugin' && this.#plugins.has(source.pluginId);
  }

  /**
   * Why a command may not run, naming the keys that would allow it, or
   * undefined when it may.
   */
  refusal(command: string, source: ExecProbeSource): string | undefined {
    if (this.allows(command, source)) return undefined;
    const keys =
      source.kind === 'plugin'
        ? `${EXEC_ALLOWED_COMMANDS_KEY} or ${pluginExecKey(source.pluginId)}`
        : EXEC_ALLOWED_COMMANDS_KEY;
    const of =
      source.kind === 'plugin'
        ? `plugin '${source.pluginId}'${
            source.origin ? ` (${source.origin})` : ''
          }`
        : `service '${source.serviceName}'`;
    return `Exec probe command ${JSON.stringify(
      command,
    )} of ${of} is not allowed; an operator may allow it with ${keys} in app-config`;
  }

  /**
   * Throws a NotAllowedError (403) for the first exec probe whose command
   * is not allowed; other probe methods pass. Every probe that arrives from
   * outside passes here, so the limits on how often and how many (an
   * InputError, 400) are checked here as well.
   */
  assertAllowed(
    probes: ReadonlyArray<ProbeDefinition> | undefined,
    source: ExecProbeSource,
  ): void {
    if (this.#limits) {
      const origin =
        source.kind === 'plugin'
          ? `plugin '${source.pluginId}'${
              source.origin ? ` (${source.origin})` : ''
            }`
          : `service '${source.serviceName}' (its health check)`;
      assertWithinProbeLimits(probes ?? [], this.#limits, origin);
    }
    for (const probe of probes ?? []) {
      if (probe.method !== 'exec' || !probe.exec) continue;
      const refusal = this.refusal(probe.exec.command, source);
      if (refusal) throw new NotAllowedError(refusal);
    }
  }
}
