import { ConflictError, NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { now } from '../../mappers';
import {
  PLUGIN_COLUMNS,
  PluginRow,
  patchToRow,
  rowToPlugin,
} from './pluginRows';
import { PluginPatch, PluginRecord } from './pluginTypes';

/**
 * Decides a change of a plugin's fields from the plugin as it is now: the
 * fields to set, or undefined to leave it as it is. Called again with the
 * newer plugin when another write came first, so it must compute from what
 * it is given (not from a copy read earlier).
 */
export type PluginChange = (current: PluginRecord) => PluginPatch | undefined;

/**
 * How many times a change is decided again when other writes keep coming
 * first. Each loss means another write applied, so this bounds the writers
 * racing on one plugin at one moment, not the work done.
 */
const MAX_ATTEMPTS = 25;

/**
 * The one write path to a plugin's fields outside a state transition
 * (breaker, probes, runtime, ...): read, decide, and write only if the
 * revision is still the one read (bumping it), else read and decide again.
 * A state transition (see {@link applyTransition}) is the same
 * compare-and-set on the revision, so neither can overwrite the other.
 * Returns the plugin as written (as read, when nothing was to change).
 *
 * @throws NotFoundError for a plugin that does not exist
 * @throws ConflictError when other writes won {@link MAX_ATTEMPTS} times
 */
export async function changePlugin(
  db: Knex,
  pluginId: string,
  decide: PluginChange,
): Promise<PluginRecord> {
  for (let attempt = 1; ; attempt++) {
    const row = (await db<PluginRow>('plugins')
      .select(PLUGIN_COLUMNS)
      .where({ id: pluginId })
      .first()) as PluginRow | undefined;
    if (!row) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    const current = rowToPlugin(row);
    const patch = decide(current);
    if (patch === undefined || Object.keys(patch).length === 0) {
      return current;
    }
    const written: Partial<PluginRow> = {
      ...patchToRow(patch),
      revision: current.revision + 1,
      updated_at: now(),
    };
    const count = await db<PluginRow>('plugins')
      .where({ id: pluginId, revision: current.revision })
      .update(written);
    if (count === 1) {
      return rowToPlugin({ ...row, ...written } as PluginRow);
    }
    if (attempt >= MAX_ATTEMPTS) {
      throw new ConflictError(
        `Plugin '${pluginId}' changed concurrently ${attempt} times while its fields were being written`,
      );
    }
  }
}
