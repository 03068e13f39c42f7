import {
  Entity,
  RELATION_OWNED_BY,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import {
  Deployment,
  LifecycleState,
  PLUGIN_ID_ANNOTATION,
  PluginHealth,
  PluginSummary,
  TERMINAL_DEPLOYMENT_PHASES,
  isTransitional,
} from '@internal/plugin-lifecycle-common';

/** A plugin's state on the fleet page; `not-installed`: an annotated entity the backend has no record of. */
export type FleetState = LifecycleState | 'not-installed';

/** A health verdict on the fleet page; `none`: not asked (nothing installed) or not answered. */
export type FleetHealth = PluginHealth['verdict'] | 'none';

/** One row of the fleet page: a managed plugin, its entity, health and rollout. */
export interface FleetRow {
  pluginId: string;
  state: FleetState;
  version?: string;
  health: FleetHealth;
  /** The newest deployment of the plugin that has not ended. */
  deployment?: Deployment;
  /** The catalog entity annotated with the plugin's id. */
  entity?: Entity;
  /** The entity's owners (entity refs). */
  owners: string[];
  lastError?: string;
  updatedAt?: string;
}

/** What the fleet page loads before it joins it into rows. */
export interface FleetSources {
  plugins: PluginSummary[];
  entities: Entity[];
  /** Active deployments, newest first. */
  deployments: Deployment[];
  /** Verdicts by plugin id, for the plugins whose health was read. */
  health: Map<string, PluginHealth['verdict']>;
}

/** The plugin id an entity is annotated with, if any. */
export function pluginIdOf(entity: Entity): string | undefined {
  return entity.metadata.annotations?.[PLUGIN_ID_ANNOTATION] || undefined;
}

/** The owners of an entity: its ownedBy relations, else its `spec.owner`. */
export function ownersOf(entity?: Entity): string[] {
  if (!entity) {
    return [];
  }
  const related = (entity.relations ?? [])
    .filter(r => r.type === RELATION_OWNED_BY)
    .map(r => r.targetRef);
  if (related.length > 0) {
    return related;
  }
  const owner = entity.spec?.owner;
  return typeof owner === 'string' && owner ? [owner] : [];
}

/** Whether a deployment is still under way (not succeeded, rolled back, aborted or failed). */
export function isActiveDeployment(deployment: Deployment): boolean {
  return !TERMINAL_DEPLOYMENT_PHASES.includes(deployment.phase);
}

/**
 * Joins the managed plugins with the catalog entities annotated with their
 * ids, their health and their active deployments: one row per plugin, plus
 * one per annotated entity whose plugin was never installed, by plugin id.
 * When several entities carry the same id, the first (by entity ref) links.
 */
export function buildFleetRows(sources: FleetSources): FleetRow[] {
  const entityById = new Map<string, Entity>();
  const sortedEntities = [...sources.entities].sort((a, b) =>
    stringifyEntityRef(a).localeCompare(stringifyEntityRef(b)),
  );
  for (const entity of sortedEntities) {
    const id = pluginIdOf(entity);
    if (id && !entityById.has(id)) {
      entityById.set(id, entity);
    }
  }
  const deploymentById = new Map<string, Deployment>();
  for (const deployment of sources.deployments) {
    // Newest first: the first one seen is the one to show.
    if (
      isActiveDeployment(deployment) &&
      !deploymentById.has(deployment.pluginId)
    ) {
      deploymentById.set(deployment.pluginId, deployment);
    }
  }

  const rows: FleetRow[] = sources.plugins.map(plugin => {
    const entity = entityById.get(plugin.id);
    return {
      pluginId: plugin.id,
      state: plugin.state,
      version: plugin.currentVersion,
      health: sources.health.get(plugin.id) ?? 'none',
      deployment: deploymentById.get(plugin.id),
      entity,
      owners: ownersOf(entity),
      lastError: plugin.lastError,
      updatedAt: plugin.updatedAt,
    };
  });
  const known = new Set(sources.plugins.map(p => p.id));
  for (const [pluginId, entity] of entityById) {
    if (!known.has(pluginId)) {
      rows.push({
        pluginId,
        state: 'not-installed',
        health: 'none',
        entity,
        owners: ownersOf(entity),
      });
    }
  }
  return rows.sort((a, b) => a.pluginId.localeCompare(b.pluginId));
}

/** Whether the plugin is one whose health means something (it has a record and is not uninstalled). */
export function hasHealth(plugin: PluginSummary): boolean {
  return plugin.state !== 'inactive';
}

/** Whether any row is in the middle of something: the page then follows it closely. */
export function isFleetBusy(rows: FleetRow[]): boolean {
  return rows.some(
    row =>
      row.deployment !== undefined ||
      (row.state !== 'not-installed' && isTransitional(row.state)),
  );
}

/** The filters of the fleet page; `undefined` means any. */
export interface FleetFilter {
  state?: FleetState;
  health?: FleetHealth;
  /** Words that must all appear in the plugin id, entity name or title, owner or version. */
  search?: string;
}

/** The text a search matches against, lower case. */
function searchableText(row: FleetRow): string {
  return [
    row.pluginId,
    row.entity?.metadata.name,
    row.entity?.metadata.title,
    row.version,
    ...row.owners,
  ]
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
}

/** The rows that pass a filter. */
export function filterFleetRows(
  rows: FleetRow[],
  filter: FleetFilter,
): FleetRow[] {
  const words = (filter.search ?? '')
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean);
  return rows.filter(row => {
    if (filter.state && row.state !== filter.state) {
      return false;
    }
    if (filter.health && row.health !== filter.health) {
      return false;
    }
    const text = searchableText(row);
    return words.every(word => text.includes(word));
  });
}

/**
 * How far a deployment got, in percent: the share of its steps that ended.
 * A deployment that has no steps yet (pending) is at 0.
 */
export function deploymentProgress(deployment: Deployment): number {
  const total = deployment.steps.length;
  if (total === 0) {
    return 0;
  }
  const done = Math.min(Math.max(deployment.currentStep, 0), total);
  return Math.round((done / total) * 100);
}

/** The new version's share of traffic, in percent, when the deployment routes any. */
export function newVersionTraffic(deployment: Deployment): number | undefined {
  return deployment.traffic[deployment.toVersion];
}
