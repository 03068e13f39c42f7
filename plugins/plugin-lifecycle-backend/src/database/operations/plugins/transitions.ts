import { ConflictError, NotFoundError } from '@backstage/errors';
import { isTransitional } from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { Coalescer } from '../../Coalescer';
import { now } from '../../mappers';
import { runNamed } from '../../runNamed';
import { isPostgres } from '../../dialect';
import {
  PATCH_COLUMNS,
  PLUGIN_COLUMNS,
  PluginRow,
  TransitionRow,
  patchToRow,
  rowToPlugin,
} from './pluginRows';
import { PluginRecord, TransitionInput } from './pluginTypes';

/** A transition on its way to PostgreSQL, with the time it was asked for. */
export type TransitionWrite = { input: TransitionInput; timestamp: string };

/** What an applied transition wrote. */
export interface AppliedTransition {
  updatedAt: string;
  /** The plugin's revision now (the one the transition made). */
  revision: number;
  /**
   * The plugin as it was just before the transition, when it had changed
   * since the caller read it: fields written meanwhile through
   * {@link changePlugin} (a breaker, probes), which the transition kept.
   */
  rebasedOn?: PluginRecord;
}

/**
 * How many times a transition is tried again on a plugin whose fields (not
 * its state) changed since the caller read it.
 */
const MAX_REBASES = 20;

/**
 * PostgreSQL: several transitions (of distinct plugins) in one statement,
 * each with its history entry and each with its own optimistic check; the
 * ids of the plugins that moved come back. A patch column is set only where
 * the transition's patch has it (`set_<column>`).
 */
const PG_TRANSITIONS = `
WITH v AS (
  SELECT * FROM json_to_recordset(?::json) AS x(
    ord int, id text, from_state text, expected int, to_state text,
    operation_id text, updated_at timestamptz, action text,
    history_operation_id text, actor text, reason text,
    ${PATCH_COLUMNS.map(([c, type]) => `${c} ${type}, set_${c} boolean`).join(
      ', ',
    )})
),
changed AS (
  UPDATE plugins p
  SET state = v.to_state,
      revision = v.expected + 1,
      operation_id = v.operation_id,
      updated_at = v.updated_at,
      ${PATCH_COLUMNS.map(
        ([c]) => `${c} = CASE WHEN v.set_${c} THEN v.${c} ELSE p.${c} END`,
      ).join(', ')}
  FROM v
  WHERE p.id = v.id AND p.state = v.from_state AND p.revision = v.expected
  RETURNING v.ord, v.id, v.from_state, v.to_state, v.action,
            v.history_operation_id, v.actor, v.reason, v.updated_at
)
INSERT INTO state_transitions
  (plugin_id, from_state, to_state, action, operation_id, actor, reason, created_at)
SELECT id, from_state, to_state, action, history_operation_id, actor, reason, updated_at
FROM changed ORDER BY ord
RETURNING plugin_id`;

/**
 * Moves a plugin from one state to another if nobody moved it since it was
 * read, and records the change in the history, atomically.
 *
 * Every write of a plugin row bumps its revision (see {@link changePlugin}),
 * so the write is a compare-and-set on the state and revision read. When it
 * finds the revision moved on but the plugin still in the state the caller
 * read, only fields changed meanwhile (a breaker, probes): the transition is
 * applied on top of them (at the new revision), so that neither write is
 * lost. A plugin that moved to another state is a ConflictError, as is one
 * at a revision below the one read.
 *
 * A round trip of other transitions back to the state read in the meantime
 * would look like a change of fields; transitions of one plugin are made by
 * the one operation that holds it, so none happens under it.
 */
export async function applyTransition(
  db: Knex,
  transitions: Coalescer<TransitionWrite, boolean>,
  input: TransitionInput,
): Promise<AppliedTransition> {
  let expectedRevision = input.expectedRevision;
  let rebasedOn: PluginRecord | undefined;
  for (let rebases = 0; ; rebases++) {
    const timestamp = now();
    const attempt = { ...input, expectedRevision };
    if (await tryTransition(db, transitions, attempt, timestamp)) {
      return {
        updatedAt: timestamp,
        revision: expectedRevision + 1,
        rebasedOn,
      };
    }
    const current = (await db<PluginRow>('plugins')
      .select(PLUGIN_COLUMNS)
      .where({ id: input.pluginId })
      .first()) as PluginRow | undefined;
    if (!current) {
      throw new NotFoundError(`No plugin with id '${input.pluginId}'`);
    }
    if (
      current.state !== input.from ||
      // a transition to the same state could not tell another one from a
      // change of fields
      input.to === input.from ||
      Number(current.revision) <= expectedRevision ||
      rebases >= MAX_REBASES
    ) {
      throw new ConflictError(
        `Plugin '${input.pluginId}' changed concurrently: expected state '${input.from}' at revision ${input.expectedRevision}, found '${current.state}' at revision ${current.revision}`,
      );
    }
    rebasedOn = rowToPlugin(current);
    expectedRevision = rebasedOn.revision;
  }
}

/** One compare-and-set of a transition; whether it applied. */
async function tryTransition(
  db: Knex,
  transitions: Coalescer<TransitionWrite, boolean>,
  input: TransitionInput,
  timestamp: string,
): Promise<boolean> {
  if (isPostgres(db)) {
    // One statement, atomic on its own: the update and its history entry
    // (every lifecycle action makes two of these), shared with the
    // transitions other operations make at the same moment.
    return transitions.submit({ input, timestamp });
  }
  return db.transaction(async tx => {
    const count = await tx<PluginRow>('plugins')
      .where({
        id: input.pluginId,
        state: input.from,
        revision: input.expectedRevision,
      })
      .update({
        ...patchToRow(input.patch ?? {}),
        state: input.to,
        revision: input.expectedRevision + 1,
        // A transitional state belongs to the operation that entered it, so
        // a replica taking the operation over can tell it may resume.
        operation_id: isTransitional(input.to)
          ? input.operationId ?? null
          : null,
        updated_at: timestamp,
      });
    if (count === 0) return false;
    await tx<TransitionRow>('state_transitions').insert({
      plugin_id: input.pluginId,
      from_state: input.from,
      to_state: input.to,
      action: input.action,
      operation_id: input.operationId ?? null,
      actor: input.actor ?? null,
      reason: input.reason ?? null,
      created_at: timestamp,
    });
    return true;
  });
}

/** PostgreSQL: transitions of distinct plugins in one statement; which applied. */
export async function transitionMany(
  db: Knex,
  writes: TransitionWrite[],
): Promise<boolean[]> {
  const input = writes.map(({ input: t, timestamp }, ord) => {
    const patch = patchToRow(t.patch ?? {}) as Record<string, unknown>;
    const row: Record<string, unknown> = {
      ord,
      id: t.pluginId,
      from_state: t.from,
      expected: t.expectedRevision,
      to_state: t.to,
      // A transitional state belongs to the operation that entered it.
      operation_id: isTransitional(t.to) ? t.operationId ?? null : null,
      updated_at: timestamp,
      action: t.action,
      history_operation_id: t.operationId ?? null,
      actor: t.actor ?? null,
      reason: t.reason ?? null,
    };
    for (const [column] of PATCH_COLUMNS) {
      // as knex's update does, a patch field given as undefined is left alone
      if (patch[column] !== undefined) {
        row[column] = patch[column];
        row[`set_${column}`] = true;
      }
    }
    return row;
  });
  // in plugin id order (see OperationStore's outcomes)
  input.sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));
  const { rows } = await runNamed(db, 'plt_transitions', PG_TRANSITIONS, [
    JSON.stringify(input),
  ]);
  const moved = new Set(rows.map((r: { plugin_id: string }) => r.plugin_id));
  return writes.map(w => moved.has(w.input.pluginId));
}
