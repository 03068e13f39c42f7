import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
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
import { installPackageArtifact } from './artifactInstall';
import { findFreePort, waitUntilListening } from './freePort';
import { instanceEnvironment, resolveLaunchCommand } from './launchCommand';
import { stopJournaledOrphans, stopRecordedOrphan } from './orphans';
import { PluginFiles } from './pluginFiles';
import {
  ProcessIdentities,
  ProcessIdentity,
  ProcessIdentityResolver,
} from './processIdentity';
import { InstanceOutput } from './InstanceOutput';
import {
  InstanceProcess,
  adoptInstanceProcess,
  sendReload,
  spawnInstanceProcess,
  stopInstanceProcess,
} from './instanceProcess';
import { readProcStat, signalGroup } from './procStat';
import { SpawnJournal, SpawnJournalEntry } from './SpawnJournal';
import { isOwnerGone } from '../orchestrator/replicas';
import { traceEnvironment } from '../tracing/tracing';

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
  /**
   * This backend replica, written in the spawn journal: a later backend
   * stops what a gone replica left unrecorded, never a live one's.
   */
  owner?: string;
  /** Whether a replica is gone (default: judged by its id, see replicas.ts). */
  isOwnerGone?: (owner: string) => boolean;
}

/**
 * Runs plugin instances as local processes on free ports.
 *
 * Each instance runs in its own session and process group, so that a stop
 * reaches whatever it spawned (SIGTERM, a grace period, then SIGKILL), and
 * writes its output to a file, so it outlives the backend: a backend that
 * restarts adopts the instances still running (same pid and start time,
 * answering on their port) instead of starting new ones. Every group it
 * spawns (instances and install steps) is journaled, so one that a gone
 * backend never recorded is found and stopped.
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
  readonly #children = new Map<string, InstanceProcess>();
  readonly #events = new EventEmitter();
  readonly #journal: SpawnJournal;
  readonly #owner: string;
  readonly #isOwnerGone: (owner: string) => boolean;

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
    this.#journal = SpawnJournal.create({ dataDir: this.#dataDir });
    this.#owner = options.owner ?? `${os.hostname()}:${process.pid}:runtime`;
    this.#isOwnerGone = options.isOwnerGone ?? isOwnerGone;
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
    if (artifact.type === 'image') {
      throw new InputError(
        'The process runtime cannot run a container image; use a cluster runtime such as kubernetes',
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
    const pkg = await installPackageArtifact(artifact, version, dir, {
      baseDir: this.#baseDir,
      allowScripts: this.#allowNpmScripts,
      signal,
      runAs: identity && { ...identity, home: this.#files.homeDir(pluginId) },
      track: this.#journal.installStepTracker({
        owner: this.#owner,
        pluginId,
        version,
      }),
      handOver: (d: string) => this.#files.handOver(d, identity),
    });
    return { location: dir, manifest: pkg.pluginLifecycle };
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
    const { instanceId, pluginId } = request;
    const identity = await this.#identity(pluginId);
    const port = await findFreePort(this.#host);
    const { command, args, cwd } = await resolveLaunchCommand(request, {
      host: this.#host,
      port,
      baseDir: this.#baseDir,
      versionDir: this.#versionDir(pluginId, request.version),
      identity,
    });
    const env = instanceEnvironment({
      requestEnv: request.env,
      host: this.#host,
      port,
      home: identity ? this.#files.homeDir(pluginId) : undefined,
    });
    // The operation that starts it (when traced), for the instance to continue.
    Object.assign(env, traceEnvironment());
    // The configuration as a file too, readable by the plugin's user only:
    // what a hot reload rewrites.
    const configFile = await this.#files.writeConfig(
      pluginId,
      instanceId,
      request.env.PLUGIN_CONFIG ?? '{}',
      identity,
    );
    env.PLUGIN_CONFIG_FILE = configFile;

    const logFile = this.#logFile(instanceId);
    const spawned = await spawnInstanceProcess({
      command,
      args,
      cwd,
      env,
      identity,
      logsDir: this.#logsDir(),
      logFile,
    });
    if ('error' in spawned) {
      await this.#removeFiles(pluginId, instanceId);
      throw new Error(
        `could not start '${command}'${
          identity ? ` as user '${identity.user}'` : ''
        }: ${spawned.error.message}`,
      );
    }
    const { pid, exited } = spawned;
    const logger = this.#logger.child({ pluginId, instanceId });
    const entry: InstanceProcess = {
      pluginId,
      host: this.#host,
      port,
      configFile,
      logFile,
      pid,
      processGroup: pid,
      process: spawned.process,
      output: await InstanceOutput.follow({
        file: logFile,
        logger,
        from: 'start',
      }),
      stopping: false,
      released: false,
      exited,
    };
    this.#children.set(instanceId, entry);
    this.#onExit(instanceId, entry, logger);
    // Journaled before anyone records it: a backend that dies from here on
    // leaves a trace of the group for the next one to stop or adopt.
    const stat = await readProcStat(pid);
    if (stat) {
      entry.startTime = stat.startTime;
      entry.processGroup = stat.processGroup;
      await this.#journalInstance(pluginId, instanceId, entry);
    }

    const state = await waitUntilListening({
      host: this.#host,
      port,
      exited: entry.exited,
      timeoutMs: this.#startTimeoutMs,
      signal: request.signal,
    });
    if (state.kind === 'exited') {
      const output = (await entry.reported) ?? '';
      const { exitCode, signal } = state.exit;
      throw new Error(
        `instance exited during start with code ${exitCode}${
          signal ? ` (signal ${signal})` : ''
        }${output ? `: ${output.slice(-500)}` : ''}`,
      );
    }
    if (state.kind === 'timeout') {
      await this.stopInstance({ pluginId, instanceId, gracePeriodMs: 2000 });
      throw new Error(
        `instance did not accept connections on ${this.#host}:${port} within ${
          this.#startTimeoutMs
        } ms`,
      );
    }

    return {
      instanceId,
      host: this.#host,
      port,
      protocol: 'http',
      pid,
      processGroup: entry.processGroup,
      processStartTime: entry.startTime,
    };
  }

  /**
   * Reports an instance's end (the exit event the restart policy hears)
   * and removes its files, unless it was let go at shutdown.
   */
  #onExit(instanceId: string, entry: InstanceProcess, logger: LoggerService) {
    entry.reported = entry.exited.then(async ({ exitCode, signal }) => {
      if (entry.released || this.#children.get(instanceId) !== entry) {
        return '';
      }
      this.#children.delete(instanceId);
      entry.unwatch?.();
      await entry.output.stop();
      const output = (await entry.output.tail()).trim();
      await this.#removeFiles(entry.pluginId, instanceId);
      const exit: RuntimeInstanceExit = {
        pluginId: entry.pluginId,
        instanceId,
        exitCode,
        signal,
        expected: entry.stopping,
        output,
      };
      if (!entry.stopping) {
        logger.warn(
          `instance exited unexpectedly (code ${exitCode}, signal ${signal})`,
        );
      }
      this.#events.emit('exit', exit);
      return output;
    });
  }

  /** Journals an instance's group: this replica's now. */
  #journalInstance(
    pluginId: string,
    instanceId: string,
    entry: InstanceProcess,
  ) {
    return this.#journal.record({
      key: instanceId,
      kind: 'instance',
      pid: entry.pid,
      processGroup: entry.processGroup,
      startTime: entry.startTime!,
      owner: this.#owner,
      pluginId,
      instanceId,
    });
  }

  // The backend's own (0700): an instance writes its log through the
  // descriptor it was given, it never needs the path.
  #logsDir() {
    return path.join(this.#dataDir, '.logs');
  }

  #logFile(instanceId: string) {
    return path.join(this.#logsDir(), `${instanceId}.log`);
  }

  /** An ended instance's configuration file, log and journal entry. */
  async #removeFiles(pluginId: string, instanceId: string) {
    await Promise.all([
      fs.rm(this.#files.configFile(pluginId, instanceId), { force: true }),
      fs.rm(this.#logFile(instanceId), { force: true }),
      this.#journal.remove(instanceId),
    ]).catch(() => {});
  }

  /**
   * Takes over an instance a gone backend started: only the very process
   * recorded (same pid and start time, in the recorded group) and only
   * while it accepts connections on its recorded port. Its end is then
   * watched by polling /proc, since it is no child of this process, and
   * reported as any instance's. Whether it was adopted.
   */
  async adoptInstance(instance: {
    pluginId: string;
    instanceId: string;
    host: string;
    port: number;
    pid?: number;
    processGroup?: number;
    processStartTime?: string;
  }): Promise<boolean> {
    const { instanceId } = instance;
    if (this.#children.has(instanceId)) return true;
    const logger = this.#logger.child({
      pluginId: instance.pluginId,
      instanceId,
    });
    const entry = await adoptInstanceProcess(instance, {
      configFile: this.#files.configFile(instance.pluginId, instanceId),
      logFile: this.#logFile(instanceId),
      logger,
    });
    if (!entry) return false;
    this.#children.set(instanceId, entry);
    this.#onExit(instanceId, entry, logger);
    await this.#journalInstance(instance.pluginId, instanceId, entry);
    logger.info(
      `adopted instance ${instanceId} (pid ${entry.pid}) of a gone backend`,
    );
    return true;
  }

  async stopInstance(request: RuntimeStopRequest): Promise<RuntimeStopResult> {
    const entry = this.#children.get(request.instanceId);
    if (!entry) {
      return { exitCode: null, signal: null, forced: false };
    }
    entry.stopping = true;
    const result = await stopInstanceProcess(entry, request.gracePeriodMs);
    await entry.reported;
    return result;
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
    await sendReload(entry, request, document);
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
   * outlives it) and that is not adopted; see {@link stopRecordedOrphan}.
   */
  async reapOrphan(instance: {
    pluginId: string;
    version: string;
    instanceId: string;
    pid?: number;
    processGroup?: number;
    processStartTime?: string;
  }): Promise<boolean> {
    const { pid } = instance;
    if (!pid || this.#children.has(instance.instanceId)) return false;
    const stopped = await stopRecordedOrphan(
      { ...instance, pid },
      this.#versionDir(instance.pluginId, instance.version),
    );
    if (stopped && instance.processStartTime) {
      await this.#removeFiles(instance.pluginId, instance.instanceId);
    }
    return stopped;
  }

  /**
   * Stops the journaled process groups of gone backends that nobody
   * adopted; see {@link stopJournaledOrphans}. Returns what was stopped.
   */
  async reapOrphans(): Promise<SpawnJournalEntry[]> {
    return stopJournaledOrphans({
      journal: this.#journal,
      logger: this.#logger,
      isKept: entry =>
        (!!entry.instanceId && this.#children.has(entry.instanceId)) ||
        entry.owner === this.#owner ||
        !this.#isOwnerGone(entry.owner),
      forget: entry =>
        entry.kind === 'instance' && entry.instanceId
          ? this.#removeFiles(entry.pluginId, entry.instanceId)
          : this.#journal.remove(entry.key),
    });
  }

  /**
   * SIGKILLs every instance's process group at once, synchronously: for a
   * process about to exit without the time to stop them gracefully (when
   * instances are not to outlive the backend).
   */
  killAll(): void {
    for (const child of this.#children.values()) {
      if (!child.released) signalGroup(child.processGroup, 'SIGKILL');
    }
  }

  /**
   * Stops every instance, or with `leaveRunning` lets them go: they run on,
   * journaled and recorded, for the next backend to adopt.
   */
  async shutdown(options: {
    gracePeriodMs: number;
    leaveRunning?: boolean;
  }): Promise<void> {
    if (options.leaveRunning) {
      await Promise.all(
        [...this.#children.values()].map(async child => {
          child.released = true;
          child.unwatch?.();
          // Not waited for: the backend may exit while they run.
          child.process?.unref();
          await child.output.stop();
        }),
      );
      this.#children.clear();
      return;
    }
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
