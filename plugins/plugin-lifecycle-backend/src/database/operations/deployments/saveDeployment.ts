import { ConflictError, NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { activeConflict } from './createDeployment';
import {
  DEPLOYMENT_COLUMNS,
  DeploymentRow,
  isActivePhase,
  patchToRow,
  rowToDeployment,
} from './deploymentRows';
import { DeploymentPatch, DeploymentRecord } from './deploymentTypes';
import { getDeployment } from './readDeployments';
import { isUniqueViolation } from '../../dialect';

/**
 * Decides a change of a deployment from the deployment as it is now: the
 * fields to set, or undefined to leave it as it is. Called again with the
 * newer deployment when another write came first, so it must compute from
 * what it is given. It may be async (to look something up), but the
 * longer it takes, the likelier another write comes first.
 */
export type DeploymentChange = (
  current: DeploymentRecord,
) => DeploymentPatch | undefined | Promise<DeploymentPatch | undefined>;

/**
 * How many times a change is decided again when other writes keep coming
 * first. Each loss means another write applied, so this bounds the writers
 * racing on one deployment at one moment, not the work done.
 */
const MAX_ATTEMPTS = 25;

/**
 * Writes a patch if the deployment is still at `expectedRevision` (and,
 * with `owner`, that owner still holds its lease: no other replica took it
 * over), bumping the revision and `updated_at`. A new phase keeps `active`
 * in step; a terminal one sets `finished_at` when the deployment finishes
 * (a later terminal phase keeps the time it finished), one that is not
 * terminal (a retry) clears it. Returns the deployment as written, or
 * undefined when the write lost a race.
 *
 * @throws ConflictError when the patch makes the deployment active again
 *   while another deployment of the plugin is active
 */
export async function saveDeployment(
  db: Knex,
  id: string,
  expectedRevision: number,
  patch: DeploymentPatch,
  options: { owner?: string; now: Date },
): Promise<DeploymentRecord | undefined> {
  const timestamp = options.now.toISOString();
  const update: Record<string, unknown> = {
    ...patchToRow(patch),
    revision: expectedRevision + 1,
    updated_at: timestamp,
  };
  if (patch.phase !== undefined && !('finishedAt' in patch)) {
    update.finished_at = isActivePhase(patch.phase)
      ? null
      : db.raw('coalesce(finished_at, ?)', [timestamp]);
  }
  const query = db<DeploymentRow>('deployments').where({
    id,
    revision: expectedRevision,
  });
  if (options.owner !== undefined) query.where('lease_owner', options.owner);
  try {
    const rows = (await query
      .update(update)
      .returning(DEPLOYMENT_COLUMNS)) as DeploymentRow[];
    return rows.length > 0 ? rowToDeployment(rows[0]) : undefined;
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const current = await getDeployment(db, id);
    throw await activeConflict(db, current?.pluginId ?? '');
  }
}

/**
 * Read, decide, and write only if nobody wrote the deployment meanwhile,
 * else read and decide again. Returns the deployment as written (as read,
 * when nothing was to change). Errors `decide` throws propagate.
 *
 * @throws NotFoundError for a deployment that does not exist
 * @throws ConflictError when other writes won {@link MAX_ATTEMPTS} times
 */
export async function changeDeployment(
  db: Knex,
  id: string,
  decide: DeploymentChange,
  now: () => Date,
): Promise<DeploymentRecord> {
  for (let attempt = 1; ; attempt++) {
    const current = await getDeployment(db, id);
    if (!current) throw new NotFoundError(`No deployment with id '${id}'`);
    const patch = await decide(current);
    if (patch === undefined || Object.keys(patch).length === 0) {
      return current;
    }
    const written = await saveDeployment(db, id, current.revision, patch, {
      now: now(),
    });
    if (written) return written;
    if (attempt >= MAX_ATTEMPTS) {
      throw new ConflictError(
        `Deployment '${id}' changed concurrently ${attempt} times while it was being written`,
      );
    }
  }
}
