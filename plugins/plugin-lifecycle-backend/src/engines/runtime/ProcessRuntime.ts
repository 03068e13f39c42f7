import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { LoggerService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import {
  PluginRuntime,
  RuntimeInstallRequest,
  RuntimeInstallResult,
  RuntimeInstance,
  RuntimeInstanceExit,
  RuntimeReloadRequest,
  RuntimeStartRequest,
  RuntimeStopRequest,
  RuntimeStopResult,
} from '@internal/plugin-lifecycle-node';
import {
  expandVersion,
  extractTarball,
  fetchNpmPackage,
  installDependencies,
  readPackageJson,
  resolveEntry,
} from './artifactInstall';
import { canConnect, findFreePort } from './freePort';
import { PluginFiles } from './pluginFiles';
import {
  canEnter,
  ProcessIdentities,
  ProcessIdentity,
  ProcessIdentityResolver,
} from './processIdentity';

const OUTPUT_TAIL_BYTES = 4096;
// Variables an instance may inherit from the backend; everything else (secrets
// of the backend itself) stays out of its environment.
const INHERITED_ENV = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'TZ',
  'TMPDIR',
  'NODE_EXTRA_CA_CERTS',
];

interface Child {
  pluginId: string;
  host: string;
  port: number;
  configFile: string;
  process: ChildProcess;
  output: string;
  stopping: boolean;
  exited: Promise<{ exitCode: number | null; signal: string | null }>;
}

/** @internal */
export interface ProcessRuntimeOptions {
  logger: LoggerService;
  /** Where versions are installed: `<dataDir>/<pluginId>/<version>`. */
  dataDir: string;
  /** Interface the instances listen on. */
  host?: string;
  /** How long an instance may take to accept TCP connections. */
  startTimeoutMs?: number;
  /** Relative artifact paths (and `file:` specs of npm artifacts) are resolved from here. */
  baseDir?: string;
  /** npm artifacts: whether package scripts may run at install. Default false. */
  npm?: { allowScripts?: boolean };
  /**
   * The users plugins run as (instances and npm at install). Default:
   * each plugin its own user when the backend runs as root, else the
   * backend's user.
   */
  identities?: ProcessIdentityResolver;
}

/**
 * Runs plugin instances as local child processes on free ports.
 *
 * Each instance runs in its own process group so that a stop reaches whatever
 * it spawned; stop is SIGTERM, a grace period, then SIGKILL.
 */
export class ProcessRuntime implements PluginRuntime {
  readonly type = 'process';
  readonly #logger: LoggerService;
  readonly #dataDir: string;
  readonly #host: string;
  readonly #startTimeoutMs: number;
  readonly #baseDir: string;
  readonly #allowNpmScripts: boolean;
  readonly #identities: ProcessIdentityResolver;
  readonly #files: PluginFiles;
  readonly #children = new Map<string, Child>();
  readonly #events = new EventEmitter();

  private constructor(options: ProcessRuntimeOptions) {
    this.#logger = options.logger;
    this.#dataDir = path.resolve(options.dataDir);
    this.#host = options.host ?? '127.0.0.1';
    this.#startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.#baseDir = options.baseDir ?? process.cwd();
    this.#allowNpmScripts = options.npm?.allowScripts ?? false;
    this.#identities =
      options.identities ?? ProcessIdentities.create({ logger: this.#logger });
    this.#files = PluginFiles.create({ dataDir: this.#dataDir });
  }

  static create(options: ProcessRuntimeOptions): ProcessRuntime {
    return new ProcessRuntime(options);
  }

  #versionDir(pluginId: string, version: string) {
    return this.#files.versionDir(pluginId, version);
  }

  /** The plugin's user (if any), its directories ready for it. */
  async #identity(pluginId: string): Promise<ProcessIdentity | undefined> {
    const identity = await this.#identities.forPlugin(pluginId);
    await this.#files.prepare(pluginId, identity);
    return identity;
  }

  async install(request: RuntimeInstallRequest): Promise<RuntimeInstallResult> {
    const { artifact, pluginId, version, signal } = request;
    if (artifact.type === 'external') {
      throw new InputError(
        'The process runtime cannot run an external artifact; use the external runtime',
      );
    }
    if (artifact.type === 'command') {
      return {
        location: artifact.cwd
          ? path.resolve(this.#baseDir, artifact.cwd)
          : undefined,
      };
    }
    const dir = this.#versionDir(pluginId, version);
    const identity = await this.#identity(pluginId);
    const runAs = identity && {
      ...identity,
      home: this.#files.homeDir(pluginId),
    };
    // A leftover from an interrupted install must not mix with this one.
    await fs.rm(dir, { recursive: true, force: true });
    try {
      if (artifact.type === 'tarball') {
        const file = path.resolve(
          this.#baseDir,
          expandVersion(artifact.path, version),
        );
        await extractTarball(file, dir);
      } else {
        await fetchNpmPackage(
          artifact.package,
          artifact.version ?? version,
          dir,
          {
            allowScripts: this.#allowNpmScripts,
            cwd: this.#baseDir,
            signal,
            runAs,
          },
        );
      }
      await this.#files.handOver(dir, identity);
      const pkg = await readPackageJson(dir);
      resolveEntry(pkg, artifact.bin); // fail the install, not the start, when nothing is runnable
      await installDependencies(dir, {
        allowScripts: this.#allowNpmScripts,
        signal,
        runAs,
      });
      return { location: dir, manifest: pkg.pluginLifecycle };
    } catch (error) {
      await fs.rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async uninstall(request: {
    pluginId: string;
    version: string;
  }): Promise<void> {
    await fs.rm(this.#versionDir(request.pluginId, request.version), {
      recursive: true,
      force: true,
    });
    // Remove the plugin's directory once its last version is gone.
    await this.#files.removeIfUnused(request.pluginId);
  }

  async startInstance(request: RuntimeStartRequest): Promise<RuntimeInstance> {
    const { artifact, instanceId, pluginId } = request;
    const identity = await this.#identity(pluginId);
    const port = await findFreePort(this.#host);
    const placeholders = (s: string) =>
      s.split('${PORT}').join(String(port)).split('${HOST}').join(this.#host);

    let command: string;
    let args: string[];
    let cwd: string;
    if (artifact.type === 'command') {
      command = placeholders(artifact.command);
      args = artifact.args.map(placeholders);
      cwd = request.location ?? this.#baseDir;
      if (identity && !(await canEnter(identity, cwd))) {
        throw new Error(
          `the plugin's user '${identity.user}' cannot read the command's working directory ${cwd}; make it (and the directories above it) readable by that user, or name another user in pluginLifecycle.runtime.process.isolation.users`,
        );
      }
    } else if (artifact.type === 'npm' || artifact.type === 'tarball') {
      cwd = request.location ?? this.#versionDir(pluginId, request.version);
      const entry = resolveEntry(await readPackageJson(cwd), artifact.bin);
      command = process.execPath;
      args = [path.resolve(cwd, entry)];
      // A package's server takes its port (or a directory to serve) as
      // arguments, as a command artifact's do.
      if (artifact.type === 'npm') {
        args.push(...(artifact.args ?? []).map(placeholders));
      }
    } else {
      throw new InputError(
        'The process runtime cannot run an external artifact',
      );
    }

    const env: Record<string, string> = {};
    for (const key of INHERITED_ENV) {
      if (process.env[key] !== undefined) env[key] = process.env[key]!;
    }
    // The plugin's user has its own HOME (the backend's is not its to read).
    if (identity) env.HOME = this.#files.homeDir(pluginId);
    Object.assign(env, request.env, { PORT: String(port), HOST: this.#host });
    // The configuration as a file too, readable by the plugin's user only:
    // what a hot reload rewrites.
    const configFile = await this.#files.writeConfig(
      pluginId,
      instanceId,
      request.env.PLUGIN_CONFIG ?? '{}',
      identity,
    );
    env.PLUGIN_CONFIG_FILE = configFile;

    const child = spawn(command, args, {
      cwd,
      env,
      detached: true, // own process group, see stopInstance
      ...(identity && { uid: identity.uid, gid: identity.gid }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logger = this.#logger.child({ pluginId, instanceId });
    const entry: Child = {
      pluginId,
      host: this.#host,
      port,
      configFile,
      process: child,
      output: '',
      stopping: false,
      exited: new Promise(resolve => {
        child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
      }),
    };
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      entry.output = (entry.output + text).slice(-OUTPUT_TAIL_BYTES);
      for (const line of text.split('\n').filter(Boolean)) {
        logger.info(line, { stream });
      }
    };
    child.stdout!.on('data', collect('stdout'));
    child.stderr!.on('data', collect('stderr'));
    this.#children.set(instanceId, entry);

    const spawnError = new Promise<Error>(resolve =>
      child.once('error', resolve),
    );
    entry.exited.then(({ exitCode, signal }) => {
      this.#children.delete(instanceId);
      fs.rm(configFile, { force: true }).catch(() => {});
      const exit: RuntimeInstanceExit = {
        pluginId,
        instanceId,
        exitCode,
        signal,
        expected: entry.stopping,
        output: entry.output.trim(),
      };
      if (!entry.stopping) {
        logger.warn(
          `instance exited unexpectedly (code ${exitCode}, signal ${signal})`,
        );
      }
      this.#events.emit('exit', exit);
    });

    // Wait until it accepts connections, exits, or takes too long.
    const deadline = Date.now() + this.#startTimeoutMs;
    for (;;) {
      const state = await Promise.race([
        entry.exited.then(e => ({ kind: 'exited' as const, ...e })),
        spawnError.then(error => ({ kind: 'error' as const, error })),
        canConnect(this.#host, port, 500).then(ok => ({
          kind: ok ? ('up' as const) : ('down' as const),
        })),
      ]);
      if (state.kind === 'up') break;
      if (state.kind === 'error') {
        this.#children.delete(instanceId);
        throw new Error(
          `could not start '${command}'${
            identity ? ` as user '${identity.user}'` : ''
          }: ${state.error.message}`,
        );
      }
      if (state.kind === 'exited') {
        const output = entry.output.trim();
        throw new Error(
          `instance exited during start with code ${state.exitCode}${
            state.signal ? ` (signal ${state.signal})` : ''
          }${output ? `: ${output.slice(-500)}` : ''}`,
        );
      }
      if (Date.now() > deadline || request.signal?.aborted) {
        await this.stopInstance({ pluginId, instanceId, gracePeriodMs: 2000 });
        throw new Error(
          `instance did not accept connections on ${
            this.#host
          }:${port} within ${this.#startTimeoutMs} ms`,
        );
      }
      await new Promise(r => setTimeout(r, 100));
    }

    return {
      instanceId,
      host: this.#host,
      port,
      protocol: 'http',
      pid: child.pid,
    };
  }

  async stopInstance(request: RuntimeStopRequest): Promise<RuntimeStopResult> {
    const entry = this.#children.get(request.instanceId);
    if (!entry) {
      return { exitCode: null, signal: null, forced: false };
    }
    entry.stopping = true;
    const pid = entry.process.pid!;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal);
      } catch {
        // already gone
      }
    };
    signalGroup('SIGTERM');
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      signalGroup('SIGKILL');
    }, request.gracePeriodMs);
    const { exitCode, signal } = await entry.exited;
    clearTimeout(timer);
    // Whatever the instance spawned and left behind goes too.
    signalGroup('SIGKILL');
    return { exitCode, signal, forced };
  }

  /**
   * Hot reload: rewrites the instance's `PLUGIN_CONFIG_FILE`, then sends it
   * a signal (it re-reads the file) or POSTs the configuration to its reload
   * endpoint. The environment of a running process cannot change, so the
   * file (or the request body) is where the new values live.
   */
  async reloadInstance(request: RuntimeReloadRequest): Promise<void> {
    const entry = this.#children.get(request.instanceId);
    if (!entry) {
      throw new Error(`instance ${request.instanceId} is not running here`);
    }
    const document = request.env.PLUGIN_CONFIG ?? '{}';
    await this.#files.writeConfig(
      entry.pluginId,
      request.instanceId,
      document,
      await this.#identities.forPlugin(entry.pluginId),
    );
    if (request.strategy === 'signal') {
      entry.process.kill(request.signal ?? 'SIGHUP');
      return;
    }
    const endpoint = request.endpoint ?? '/-/reload';
    const response = await fetch(
      `http://${entry.host}:${entry.port}${endpoint}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: document,
        signal: AbortSignal.timeout(request.timeoutMs ?? 10_000),
      },
    );
    await response.body?.cancel();
    if (!response.ok) {
      throw new Error(
        `the instance answered ${response.status} to POST ${endpoint}`,
      );
    }
  }

  async isAlive(instanceId: string): Promise<boolean> {
    return this.#children.has(instanceId);
  }

  onInstanceExit(listener: (exit: RuntimeInstanceExit) => void): () => void {
    this.#events.on('exit', listener);
    return () => this.#events.off('exit', listener);
  }

  /**
   * Stops an instance left by a backend that was killed (its process group
   * outlives it). Only a process whose command line runs from this
   * runtime's version directory of that plugin is touched, so a reused pid
   * is never signalled by mistake.
   */
  async reapOrphan(instance: {
    pluginId: string;
    version: string;
    instanceId: string;
    pid?: number;
  }): Promise<boolean> {
    const { pid } = instance;
    if (!pid || this.#children.has(instance.instanceId)) return false;
    let commandLine: string;
    try {
      commandLine = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8'))
        .split('\0')
        .join(' ');
    } catch {
      return false; // gone already (or not Linux)
    }
    if (
      !commandLine.includes(
        this.#versionDir(instance.pluginId, instance.version),
      )
    ) {
      return false;
    }
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal);
        return true;
      } catch {
        return false;
      }
    };
    if (!signalGroup('SIGTERM')) return false;
    for (let waited = 0; waited < 5000; waited += 100) {
      await new Promise(r => setTimeout(r, 100));
      try {
        process.kill(pid, 0);
      } catch {
        return true;
      }
    }
    signalGroup('SIGKILL');
    return true;
  }

  /**
   * SIGKILLs every instance's process group at once, synchronously: for a
   * process about to exit without the time to stop them gracefully.
   */
  killAll(): void {
    for (const child of this.#children.values()) {
      const pid = child.process.pid;
      if (!pid) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  async shutdown(options: { gracePeriodMs: number }): Promise<void> {
    await Promise.all(
      [...this.#children.entries()].map(([instanceId, child]) =>
        this.stopInstance({
          pluginId: child.pluginId,
          instanceId,
          gracePeriodMs: options.gracePeriodMs,
        }),
      ),
    );
  }
}
