import { spawn } from 'node:child_process';
import {
  ProcessIdentity,
  ProcessIdentityResolver,
} from '../../runtime/processIdentity';
import { ExecProbePolicy, ExecProbeSource } from '../execProbePolicy';
import { ProbeDeadline, errorMessage } from './deadline';
import { Probe, ProbeOutcome, Prober, ProbeTarget } from './types';

// The output's end goes into the probe's message, which the health API
// returns: enough to see why a check failed, too little to carry a dump.
const DEFAULT_MAX_OUTPUT_BYTES = 512;
/** How long to wait for the output pipes once the command has exited. */
const OUTPUT_GRACE_MS = 100;
// The only variable a probe command inherits from the backend, so that it
// finds its command; the backend's own settings and secrets stay out of its
// environment (and so out of its output, which the health API returns).
const INHERITED_ENV = ['PATH'];

/** @public */
export interface ExecProberOptions {
  /** Where commands run. Defaults to the backend's working directory. */
  cwd?: string;
  /** Output kept for the message, from the end. Defaults to 512 bytes. */
  maxOutputBytes?: number;
  /**
   * The commands probes may run. Probes are checked when they are
   * registered; this is the last line, for probes stored before the
   * operator's choice was asked. Default: none may run.
   */
  policy?: ExecProbePolicy;
  /**
   * The users commands run as: a plugin's probes as the plugin's user,
   * registered services' probes as the probe user. Default: the backend's
   * user.
   */
  identities?: ProcessIdentityResolver;
}

/**
 * Probes by running a command (an argv array, no shell) on the backend's
 * host: exit code 0 passes. The command runs in its own process group, which
 * is killed with SIGKILL at the timeout, on abort, and once the command exits
 * (so nothing it left behind lingers).
 *
 * With `identities`, a plugin's probe runs as the plugin's user (what its
 * own instances can read, and nothing of the backend's or other plugins'),
 * a registered service's as the probe user.
 *
 * Its environment is PATH (the backend's) with PROBE_HOST, PROBE_PORT,
 * PROBE_INSTANCE_ID and PROBE_PLUGIN_ID, nothing else of the backend's;
 * `${HOST}` and `${PORT}` in its arguments are replaced with the target's.
 * Only commands the policy allows run (none by default), and only the last
 * 512 bytes of the output are kept for the message.
 *
 * @public
 */
export class ExecProber implements Prober {
  readonly method = 'exec';
  readonly #cwd: string | undefined;
  readonly #maxOutputBytes: number;
  readonly #policy: ExecProbePolicy;
  readonly #identities: ProcessIdentityResolver | undefined;

  private constructor(options: ExecProberOptions) {
    this.#cwd = options.cwd;
    this.#policy = options.policy ?? ExecProbePolicy.create();
    this.#maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.#identities = options.identities;
  }

  static create(options: ExecProberOptions = {}): ExecProber {
    return new ExecProber(options);
  }

  async probe(
    target: ProbeTarget,
    probe: Probe,
    signal: AbortSignal,
  ): Promise<ProbeOutcome> {
    const deadline = ProbeDeadline.start(probe, signal);
    try {
      if (!probe.exec) {
        return deadline.fail('an exec probe needs its "exec" settings');
      }
      const source: ExecProbeSource =
        target.serviceName !== undefined
          ? { kind: 'service', serviceName: target.serviceName }
          : { kind: 'plugin', pluginId: target.pluginId };
      const refusal = this.#policy.refusal(probe.exec.command, source);
      if (refusal) return deadline.fail(refusal);
      const identity = await (source.kind === 'plugin'
        ? this.#identities?.forPlugin(source.pluginId)
        : this.#identities?.forServiceProbes());
      if (deadline.aborted) return deadline.fail(deadline.reason());
      return await this.#run(target, probe.exec, deadline, identity);
    } catch (error) {
      return deadline.failWith(error);
    } finally {
      deadline.dispose();
    }
  }

  #run(
    target: ProbeTarget,
    exec: { command: string; args?: string[] },
    deadline: ProbeDeadline,
    identity: ProcessIdentity | undefined,
  ): Promise<ProbeOutcome> {
    const placeholders = (s: string) =>
      s
        .split('${PORT}')
        .join(String(target.port))
        .split('${HOST}')
        .join(target.host);
    const env: Record<string, string> = {};
    for (const key of INHERITED_ENV) {
      if (process.env[key] !== undefined) env[key] = process.env[key]!;
    }
    Object.assign(env, {
      PROBE_HOST: target.host,
      PROBE_PORT: String(target.port),
      PROBE_INSTANCE_ID: target.instanceId,
      PROBE_PLUGIN_ID: target.pluginId,
    });

    return new Promise(resolve => {
      const child = spawn(exec.command, (exec.args ?? []).map(placeholders), {
        cwd: this.#cwd,
        env,
        detached: true, // own process group, killed as a whole
        ...(identity && { uid: identity.uid, gid: identity.gid }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = Buffer.alloc(0);
      const collect = (chunk: Buffer) => {
        output = Buffer.concat([output, chunk]);
        if (output.length > this.#maxOutputBytes) {
          output = output.subarray(output.length - this.#maxOutputBytes);
        }
      };
      child.stdout!.on('data', collect);
      child.stderr!.on('data', collect);

      const killGroup = () => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const onAbort = () => killGroup();
      deadline.signal.addEventListener('abort', onAbort, { once: true });

      let settled = false;
      const settle = (outcome: () => ProbeOutcome) => {
        if (settled) return;
        settled = true;
        deadline.signal.removeEventListener('abort', onAbort);
        resolve(outcome());
      };

      child.once('error', error =>
        settle(() =>
          deadline.fail(
            `could not run ${JSON.stringify(exec.command)}: ${errorMessage(
              error,
            )}`,
          ),
        ),
      );
      child.once('exit', (code, exitSignal) => {
        // Whatever the command left running in its group goes too.
        killGroup();
        const latencyMs = deadline.elapsedMs();
        // Judged as of the exit, not of the pipes closing a little later.
        const cutShort = deadline.aborted ? deadline.reason() : undefined;
        const finish = () => {
          child.stdout!.destroy();
          child.stderr!.destroy();
          const text = output.toString('utf8').trim();
          const tail = text ? `: ${text}` : '';
          settle(() => {
            if (cutShort !== undefined) {
              return { ok: false, latencyMs, message: cutShort + tail };
            }
            if (code === 0) {
              return {
                ok: true,
                latencyMs,
                statusCode: 0,
                message: `exited with code 0${tail}`,
              };
            }
            return {
              ok: false,
              latencyMs,
              message: `${
                code === null
                  ? `killed by ${exitSignal}`
                  : `exited with code ${code}`
              }${tail}`,
              ...(code === null ? {} : { statusCode: code }),
            };
          });
        };
        // The pipes close right after the exit, unless something that
        // escaped the group still holds them.
        const grace = setTimeout(finish, OUTPUT_GRACE_MS);
        let open = 2;
        const onClose = () => {
          open -= 1;
          if (open === 0) {
            clearTimeout(grace);
            finish();
          }
        };
        for (const stream of [child.stdout!, child.stderr!]) {
          if (stream.closed) onClose();
          else stream.once('close', onClose);
        }
      });
    });
  }
}
