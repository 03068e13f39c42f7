import { NotFoundError } from '@backstage/errors';
import { StateTransition } from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { Coalescer } from './Coalescer';
import { PluginChange, changePlugin } from './operations/plugins/changePlugin';
import {
  createPlugin,
  createPlugins,
} from './operations/plugins/createPlugins';
import { history, lastTransition } from './operations/plugins/history';
import { PluginRow } from './operations/plugins/pluginRows';
import {
  NewPlugin,
  PluginPatch,
  PluginRecord,
  StoredVersion,
  TransitionInput,
} from './operations/plugins/pluginTypes';
import {
  PluginDependencies,
  PluginFilter,
  dependencyView,
  getPlugin,
  getPlugins,
  listPlugins,
  readPluginRows,
} from './operations/plugins/readPlugins';
import {
  AppliedTransition,
  TransitionWrite,
  applyTransition,
  transitionMany,
} from './operations/plugins/transitions';
import {
  deleteVersion,
  getVersion,
  listVersions,
  putVersion,
  putVersions,
} from './operations/plugins/versions';

export type {
  AppliedTransition,
  NewPlugin,
  PluginChange,
  PluginDependencies,
  PluginFilter,
  PluginPatch,
  PluginRecord,
  StoredVersion,
  TransitionInput,
};

/**
 * Plugins, their installed versions and their state history: one aggregate,
 * because a state change and its history entry are written together.
 *
 * Every write of a plugin row is a compare-and-set on its revision: a state
 * transition ({@link PluginStore.applyTransition}) or a change of its fields
 * ({@link PluginStore.change}); there is no other.
 */
export class PluginStore {
  readonly #db: Knex;
  /**
   * On PostgreSQL, what many operations do at once (read a plugin, move it,
   * store a version) goes out in shared statements: see {@link Coalescer}.
   */
  readonly #gets: Coalescer<string, PluginRow | undefined>;
  readonly #transitions: Coalescer<TransitionWrite, boolean>;
  readonly #versions: Coalescer<StoredVersion, undefined>;

  private constructor(db: Knex) {
    this.#db = db;
    this.#gets = new Coalescer({ run: ids => readPluginRows(db, ids) });
    this.#transitions = new Coalescer({
      run: writes => transitionMany(db, writes),
      // one transition per plugin per statement: the next one expects the
      // revision this one makes
      key: w => w.input.pluginId,
    });
    this.#versions = new Coalescer({
      run: versions => putVersions(db, versions),
      key: v => JSON.stringify([v.pluginId, v.version]),
    });
  }

  static create(options: { db: Knex }): PluginStore {
    return new PluginStore(options.db);
  }

  get(pluginId: string): Promise<PluginRecord | undefined> {
    return getPlugin(this.#db, this.#gets, pluginId);
  }

  /**
   * The plugins with these ids that exist, in one query (where a caller
   * would otherwise look them up one at a time, e.g. a batch request).
   */
  getMany(pluginIds: string[]): Promise<Map<string, PluginRecord>> {
    return getPlugins(this.#db, pluginIds);
  }

  async getOrThrow(pluginId: string): Promise<PluginRecord> {
    const plugin = await this.get(pluginId);
    if (!plugin) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    return plugin;
  }

  list(filter: PluginFilter = {}): Promise<PluginRecord[]> {
    return listPlugins(this.#db, filter);
  }

  /** Creates a plugin in the `inactive` state. */
  create(input: NewPlugin): Promise<PluginRecord> {
    return createPlugin(this.#db, input);
  }

  /**
   * Creates several plugins in the `inactive` state at once (one statement
   * per few hundred): all of them, or, when one already exists, none
   * (a ConflictError naming those that exist).
   */
  createMany(inputs: NewPlugin[]): Promise<PluginRecord[]> {
    return createPlugins(this.#db, inputs);
  }

  /** The manifest dependencies of every plugin's current version, in one query. */
  dependencyView(): Promise<PluginDependencies[]> {
    return dependencyView(this.#db);
  }

  /**
   * Changes a plugin's fields outside a state transition (its breaker,
   * probes, runtime, ...): `decide` gets the plugin as it is now and says
   * what to set; written only if nobody wrote the plugin meanwhile, else
   * decided again on the newer plugin. See {@link changePlugin}.
   */
  change(pluginId: string, decide: PluginChange): Promise<PluginRecord> {
    return changePlugin(this.#db, pluginId, decide);
  }

  /**
   * Moves a plugin from one state to another if nobody changed it since it was
   * read (same state and revision), and records the change in the history,
   * in one transaction.
   */
  async transition(input: TransitionInput): Promise<PluginRecord> {
    await this.applyTransition(input);
    return this.getOrThrow(input.pluginId);
  }

  /**
   * {@link PluginStore.transition} without reading the plugin back, for
   * callers that hold the record they changed (the hot path of every action).
   * Fields changed meanwhile (see {@link PluginStore.change}) do not stop it:
   * see {@link applyTransition}.
   */
  applyTransition(input: TransitionInput): Promise<AppliedTransition> {
    return applyTransition(this.#db, this.#transitions, input);
  }

  history(
    pluginId: string,
    options: { limit?: number; afterId?: number } = {},
  ): Promise<StateTransition[]> {
    return history(this.#db, pluginId, options);
  }

  /** The plugin's latest state transition, if any. */
  lastTransition(pluginId: string): Promise<StateTransition | undefined> {
    return lastTransition(this.#db, pluginId);
  }

  putVersion(version: StoredVersion): Promise<void> {
    return putVersion(this.#db, this.#versions, version);
  }

  listVersions(pluginId: string): Promise<StoredVersion[]> {
    return listVersions(this.#db, pluginId);
  }

  getVersion(
    pluginId: string,
    version: string,
  ): Promise<StoredVersion | undefined> {
    return getVersion(this.#db, pluginId, version);
  }

  deleteVersion(pluginId: string, version: string): Promise<void> {
    return deleteVersion(this.#db, pluginId, version);
  }
}
