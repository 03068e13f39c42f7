import { useRef } from 'react';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { useApi } from '@backstage/frontend-plugin-api';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import {
  PLUGIN_ID_ANNOTATION,
  PluginHealth,
} from '@internal/plugin-lifecycle-common';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../api';
import { FleetRow, buildFleetRows, hasHealth, isFleetBusy } from './fleetRows';
import { useLiveRefresh } from '../live/useLiveRefresh';

/** Health reads in flight at once: one per plugin, so a large fleet does not flood the backend. */
export const HEALTH_CONCURRENCY = 6;

/** The most active deployments read at once (the API's page limit). */
const ACTIVE_DEPLOYMENTS_LIMIT = 500;

/** The entity fields the page shows. */
const ENTITY_FIELDS = [
  'kind',
  'metadata.namespace',
  'metadata.name',
  'metadata.title',
  'metadata.annotations',
  'spec.owner',
  'relations',
];

/**
 * The health verdict of each plugin, read a few at a time; a plugin whose
 * health cannot be read is left out (shown as unknown), not an error of
 * the whole page.
 */
async function readHealth(
  api: PluginLifecycleApi,
  pluginIds: string[],
): Promise<Map<string, PluginHealth['verdict']>> {
  const verdicts = new Map<string, PluginHealth['verdict']>();
  const queue = [...pluginIds];
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      try {
        verdicts.set(
          id,
          (await api.getPluginHealth(id, { recent: 0 })).verdict,
        );
      } catch {
        // The row shows no verdict; the Health tab tells why.
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(HEALTH_CONCURRENCY, queue.length) }, worker),
  );
  return verdicts;
}

/**
 * Loads every managed plugin with its catalog entity, health and active
 * deployment, and keeps it current through the fleet's signals (or
 * polling without them).
 */
export function useFleet() {
  const api = useApi(pluginLifecycleApiRef);
  const catalogApi = useApi(catalogApiRef);

  const { value, error, retry } = useAsyncRetry(async (): Promise<
    FleetRow[]
  > => {
    const [plugins, entities, deployments] = await Promise.all([
      api.listPlugins(),
      catalogApi
        .getEntities({
          filter: {
            [`metadata.annotations.${PLUGIN_ID_ANNOTATION}`]:
              CATALOG_FILTER_EXISTS,
          },
          fields: ENTITY_FIELDS,
        })
        .then(r => r.items),
      api.listDeployments({ active: true, limit: ACTIVE_DEPLOYMENTS_LIMIT }),
    ]);
    const health = await readHealth(
      api,
      plugins.filter(hasHealth).map(p => p.id),
    );
    return buildFleetRows({ plugins, entities, deployments, health });
  }, [api, catalogApi]);

  // A failed reload keeps the rows of the last good one on screen.
  const lastRows = useRef<FleetRow[]>();
  if (value) {
    lastRows.current = value;
  }
  const rows = value ?? lastRows.current;

  const { mode } = useLiveRefresh({
    refresh: retry,
    busy: rows ? isFleetBusy(rows) : false,
  });

  return { rows, error, refresh: retry, mode };
}
