import { NotFoundError } from '@backstage/errors';
import { ConfigVersionSummary } from '@internal/plugin-lifecycle-common';
import { ConfigStore, StoredConfigVersion } from '../../database/ConfigStore';

/** A stored version as the API lists it, without its entries. */
export function versionSummary(
  v: StoredConfigVersion,
  entryCount?: number,
): ConfigVersionSummary {
  return {
    pluginId: v.pluginId,
    layer: v.layer,
    version: v.version,
    revision: v.revision,
    author: v.author,
    description: v.description,
    createdAt: v.createdAt,
    rolledBackFrom: v.rolledBackFrom,
    entryCount: entryCount ?? v.entries.length,
  };
}

/** One stored version of a layer; NotFoundError when there is none. */
export async function versionOrThrow(
  store: ConfigStore,
  pluginId: string,
  layer: string,
  version: number,
): Promise<StoredConfigVersion> {
  const found = await store.get(pluginId, layer, version);
  if (!found) {
    throw new NotFoundError(
      `Configuration '${layer}' of plugin '${pluginId}' has no version ${version}`,
    );
  }
  return found;
}
