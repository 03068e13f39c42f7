import os from 'node:os';
import { EventEmitter } from 'node:events';
import { Knex } from 'knex';
import {
  PluginRuntime,
  RuntimeInstallRequest,
  RuntimeInstance,
  RuntimeInstanceExit,
  RuntimeStartRequest,
} from '@internal/plugin-lifecycle-node';
import { Coalescer } from '../src/database/OperationStore';

/**
 * A runtime that does no real work and records what it does in the
 * plugin's own database: one `recording_calls` row per install call (which
 * replica, when it began and ended) and one `recording_effects` row per
 * (plugin, version), written idempotently as a real install is.
 */
export class RecordingRuntime implements PluginRuntime {
  readonly type = 'recording';
  readonly #db: Knex;
  readonly #installMs: number;
  readonly #replica = `${os.hostname()}:${process.pid}`;
  readonly #events = new EventEmitter();
  readonly #instances = new Set<string>();

  static async create(options: { db: Knex; installMs: number }) {
    const { db } = options;
    // Both replicas may race to create the tables.
    await db.schema
      .createTable('recording_calls', t => {
        t.increments('id');
        t.string('plugin_id').notNullable();
        t.string('version').notNullable();
        t.string('replica').notNullable();
        t.bigInteger('started_ms').notNullable();
        t.bigInteger('finished_ms').nullable();
      })
      .catch(() => {});
    await db.schema
      .createTable('recording_effects', t => {
        t.string('plugin_id').notNullable();
        t.string('version').notNullable();
        t.string('replica').notNullable();
        t.primary(['plugin_id', 'version']);
      })
      .catch(() => {});
    return new RecordingRuntime(db, options.installMs);
  }

  /** PostgreSQL, installs that take no time: calls and effects, many per statement. */
  readonly #instantInstalls = new Coalescer<
    { plugin_id: string; version: string; replica: string; at: number },
    undefined
  >({
    run: async calls => {
      await this.#db.raw(
        `WITH input AS (
           SELECT * FROM json_to_recordset(?::json)
             AS v(plugin_id text, version text, replica text, at bigint)),
         call AS (
           INSERT INTO recording_calls (plugin_id, version, replica, started_ms, finished_ms)
           SELECT plugin_id, version, replica, at, at FROM input)
         INSERT INTO recording_effects (plugin_id, version, replica)
         SELECT plugin_id, version, replica FROM input
         ON CONFLICT (plugin_id, version) DO NOTHING`,
        [JSON.stringify(calls)],
      );
      return calls.map(() => undefined);
    },
  });

  private constructor(db: Knex, installMs: number) {
    this.#db = db;
    this.#installMs = installMs;
  }

  async install(request: RuntimeInstallRequest) {
    if (this.#installMs === 0 && this.#db.client.config.client === 'pg') {
      // An install that takes no time: the call (begun and ended) and its
      // effect in one statement, shared with the installs that happen at the
      // same moment, so that the runtime's own bookkeeping weighs as little
      // as possible on what the benchmark measures.
      await this.#instantInstalls.submit({
        plugin_id: request.pluginId,
        version: request.version,
        replica: this.#replica,
        at: Date.now(),
      });
      return {};
    }
    const [{ id }] = await this.#db('recording_calls')
      .insert({
        plugin_id: request.pluginId,
        version: request.version,
        replica: this.#replica,
        started_ms: Date.now(),
      })
      .returning('id');
    if (this.#installMs > 0) {
      await new Promise(r => setTimeout(r, this.#installMs));
    }
    await this.#db('recording_effects')
      .insert({
        plugin_id: request.pluginId,
        version: request.version,
        replica: this.#replica,
      })
      .onConflict(['plugin_id', 'version'])
      .ignore();
    await this.#db('recording_calls')
      .where({ id })
      .update({ finished_ms: Date.now() });
    return {};
  }

  async uninstall() {}

  async startInstance(request: RuntimeStartRequest): Promise<RuntimeInstance> {
    this.#instances.add(request.instanceId);
    return {
      instanceId: request.instanceId,
      host: '127.0.0.1',
      port: 9,
      protocol: 'tcp',
    };
  }

  async stopInstance(request: { pluginId: string; instanceId: string }) {
    this.#instances.delete(request.instanceId);
    const exit: RuntimeInstanceExit = {
      pluginId: request.pluginId,
      instanceId: request.instanceId,
      exitCode: 0,
      signal: null,
      expected: true,
      output: '',
    };
    this.#events.emit('exit', exit);
    return { exitCode: 0, signal: null, forced: false };
  }

  async isAlive(instanceId: string) {
    return this.#instances.has(instanceId);
  }

  onInstanceExit(listener: (exit: RuntimeInstanceExit) => void) {
    this.#events.on('exit', listener);
    return () => this.#events.off('exit', listener);
  }

  async shutdown() {}
}
