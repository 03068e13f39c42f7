import { StateTransition } from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { TransitionRow, rowToTransition } from './pluginRows';

/** A plugin's state transitions, oldest first, a page at a time. */
export async function history(
  db: Knex,
  pluginId: string,
  options: { limit?: number; afterId?: number } = {},
): Promise<StateTransition[]> {
  const query = db<TransitionRow>('state_transitions')
    .select('*')
    .where({ plugin_id: pluginId })
    .orderBy('id', 'asc')
    .limit(options.limit ?? 500);
  if (options.afterId !== undefined) query.where('id', '>', options.afterId);
  const rows = await query;
  return rows.map(rowToTransition);
}

/** The plugin's latest state transition, if any. */
export async function lastTransition(
  db: Knex,
  pluginId: string,
): Promise<StateTransition | undefined> {
  const row = await db<TransitionRow>('state_transitions')
    .select('*')
    .where({ plugin_id: pluginId })
    .orderBy('id', 'desc')
    .first();
  return row && rowToTransition(row);
}
