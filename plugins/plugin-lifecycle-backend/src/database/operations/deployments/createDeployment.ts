import { ConflictError } from '@backstage/errors';
import { Knex } from 'knex';
import {
  DeploymentRow,
  newDeploymentRow,
  rowToDeployment,
} from './deploymentRows';
import { DeploymentRecord, NewDeployment } from './deploymentTypes';
import { activeForPlugin, getDeployment } from './readDeployments';
import { isUniqueViolation } from '../../dialect';

/**
 * Creates a deployment. The unique index on active deployments decides
 * between concurrent creates for one plugin (on any replica): the loser
 * gets a ConflictError naming the deployment that is active.
 */
export async function createDeployment(
  db: Knex,
  input: NewDeployment,
  now: Date,
): Promise<DeploymentRecord> {
  const row = newDeploymentRow(input, now.toISOString());
  try {
    await db<DeploymentRow>('deployments').insert(row);
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    if (await getDeployment(db, input.id)) {
      throw new ConflictError(`Deployment '${input.id}' already exists`);
    }
    throw await activeConflict(db, input.pluginId);
  }
  return rowToDeployment(row);
}

/** The conflict of a second active deployment for a plugin. */
export async function activeConflict(
  db: Knex,
  pluginId: string,
): Promise<ConflictError> {
  const active = await activeForPlugin(db, pluginId);
  return new ConflictError(
    active
      ? `Plugin '${pluginId}' already has an active deployment '${active.id}' (${active.strategy} ${active.fromVersion} -> ${active.toVersion}, ${active.phase})`
      : `Plugin '${pluginId}' already has an active deployment`,
  );
}
