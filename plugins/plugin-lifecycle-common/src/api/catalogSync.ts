/**
 * Where catalog sync left a plugin after its last pass.
 *
 * - `in-sync`: the plugin runs the declared version.
 * - `deployment-started`: a pass started a deployment to it.
 * - `deploying`: the deployment catalog sync started is still active.
 * - `deployment-active`: another deployment is active; catalog sync waits.
 * - `not-retried`: the declared state was acted on before (deployed, or
 *   found running) and the plugin left it since (a rollback by analysis or
 *   a person, an abort, a person's update); nothing is done until the
 *   annotations declare something else.
 * - `not-installed`, `no-linked-entity`, `no-declaration`, `invalid`:
 *   nothing to act on, with why.
 * - `error`: starting the deployment failed (tried again on the next pass).
 *
 * @public
 */
export type CatalogSyncStatus =
  | 'in-sync'
  | 'deployment-started'
  | 'deploying'
  | 'deployment-active'
  | 'not-retried'
  | 'not-installed'
  | 'no-linked-entity'
  | 'no-declaration'
  | 'invalid'
  | 'error';

/**
 * Catalog sync of one plugin, as `GET /plugins/{pluginId}/catalog-sync`
 * answers it: whether it follows its entity, and what the last pass did
 * and why (absent before the first pass).
 *
 * @public
 */
export interface PluginCatalogSync {
  pluginId: string;
  /** Catalog sync is enabled and the operator opted this plugin in. */
  enabled: boolean;
  status?: CatalogSyncStatus;
  reason?: string;
  /** The entity whose annotations the last pass read. */
  entityRef?: string;
  /** The deployment catalog sync started last. */
  deploymentId?: string;
  updatedAt?: string;
}
