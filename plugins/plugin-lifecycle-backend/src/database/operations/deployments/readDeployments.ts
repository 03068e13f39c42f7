import { InputError } from '@backstage/errors';
import { Knex } from 'knex';
import {
  DEPLOYMENT_COLUMNS,
  DeploymentRow,
  rowToDeployment,
} from './deploymentRows';
import { DeploymentFilter, DeploymentRecord } from './deploymentTypes';

/** Deployments per page when the caller does not say. */
const DEFAULT_LIMIT = 50;

/** A deployment, or undefined. */
export async function getDeployment(
  db: Knex,
  id: string,
): Promise<DeploymentRecord | undefined> {
  const row = (await db<DeploymentRow>('deployments')
    .select(DEPLOYMENT_COLUMNS)
    .where({ id })
    .first()) as DeploymentRow | undefined;
  return row ? rowToDeployment(row) : undefined;
}

/** Deployments, newest first. */
export async function listDeployments(
  db: Knex,
  filter: DeploymentFilter,
): Promise<DeploymentRecord[]> {
  const query = db<DeploymentRow>('deployments')
    .select(DEPLOYMENT_COLUMNS)
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(filter.limit ?? DEFAULT_LIMIT);
  if (filter.pluginId !== undefined) query.where('plugin_id', filter.pluginId);
  if (filter.phase !== undefined) query.where('phase', filter.phase);
  if (filter.active !== undefined) query.where('active', filter.active);
  if (filter.tenants && filter.tenants.all !== true) {
    query.whereIn('tenant', filter.tenants.tenants);
  }
  if (filter.before !== undefined) {
    const before = Date.parse(filter.before);
    if (Number.isNaN(before)) {
      throw new InputError(`before: '${filter.before}' is not a time`);
    }
    query.where('created_at', '<', new Date(before).toISOString());
  }
  const rows = (await query) as DeploymentRow[];
  return rows.map(rowToDeployment);
}

/** The plugin's active deployment (at most one, by a unique index), or undefined. */
export async function activeForPlugin(
  db: Knex,
  pluginId: string,
): Promise<DeploymentRecord | undefined> {
  const row = (await db<DeploymentRow>('deployments')
    .select(DEPLOYMENT_COLUMNS)
    .where({ plugin_id: pluginId, active: true })
    .first()) as DeploymentRow | undefined;
  return row ? rowToDeployment(row) : undefined;
}

/**
 * How many deployments are in each phase, within the tenants given (all
 * when not given).
 */
export async function countDeploymentsByPhase(
  db: Knex,
  tenants?: DeploymentFilter['tenants'],
): Promise<Record<string, number>> {
  const query = db<DeploymentRow>('deployments')
    .select('phase')
    .count({ count: '*' })
    .groupBy('phase');
  if (tenants && tenants.all !== true) query.whereIn('tenant', tenants.tenants);
  const rows = (await query) as Array<{
    phase: string;
    count: number | string;
  }>;
  return Object.fromEntries(rows.map(r => [r.phase, Number(r.count)]));
}
