import { mockServices } from '@backstage/backend-test-utils';
import { ConflictError } from '@backstage/errors';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  Deployment,
  PLUGIN_ID_ANNOTATION,
  PLUGIN_VERSION_ANNOTATION,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { createTestDatabases } from '../../__testUtils__/databases';
import { CatalogSyncStore } from '../../database/CatalogSyncStore';
import { applyDatabaseMigrations } from '../../database/migrations';
import { CatalogSync, CatalogSyncSystem } from './CatalogSync';

jest.setTimeout(60_000);

const databases = createTestDatabases();

const entity = (name: string, version: string) => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name,
    namespace: 'default',
    annotations: {
      [PLUGIN_ID_ANNOTATION]: name,
      [PLUGIN_VERSION_ANNOTATION]: version,
    },
  },
  spec: {},
});

/** The parts of the facade catalog sync uses, over a plugin table in memory. */
function fakeSystem(
  plugins: Record<string, { currentVersion?: string; entityRef?: string }>,
) {
  const updates: Array<{ pluginId: string; version: string; options: any }> =
    [];
  let refuse: Error | undefined;
  const system: CatalogSyncSystem = {
    findPluginRecord: async id => plugins[id],
    listPluginDeployments: async () => [],
    getDeployment: async id => ({ id, phase: 'succeeded' } as Deployment),
    updatePlugin: async (pluginId, version, options) => {
      if (refuse) throw refuse;
      updates.push({ pluginId, version, options });
      return {
        operationId: `op-${updates.length}`,
        deploymentId: `d-${updates.length}`,
        pluginId,
        type: 'update',
        status: 'queued',
      };
    },
  };
  return {
    system,
    updates,
    refuseWith: (error?: Error) => {
      refuse = error;
    },
  };
}

describe('CatalogSync', () => {
  let knex: Knex;
  let store: CatalogSyncStore;

  beforeEach(async () => {
    knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    store = CatalogSyncStore.create({ db: knex });
  });

  afterEach(async () => {
    await knex.destroy();
  });

  it('changes nothing while the catalog does not answer', async () => {
    const { system, updates } = fakeSystem({
      a: { currentVersion: '1.0.0', entityRef: 'component:default/a' },
    });
    const logger = mockServices.logger.mock();
    const sync = CatalogSync.create({
      system,
      store,
      catalog: catalogServiceMock.mock({
        getEntitiesByRefs: async () => {
          throw new Error('catalog down');
        },
      }),
      auth: mockServices.auth(),
      logger,
      plugins: () => ['a'],
    });
    expect(await sync.run()).toEqual([]);
    expect(updates).toEqual([]);
    expect(await store.list()).toEqual([]);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringContaining('catalog down'),
    );
  });

  it('records why it skips, audits a refused deployment and tries it again on the next pass', async () => {
    const { system, updates, refuseWith } = fakeSystem({
      a: { currentVersion: '1.0.0', entityRef: 'a' },
      b: { currentVersion: '1.0.0' },
    });
    const events: Array<{ eventId: string; outcome?: string }> = [];
    const sync = CatalogSync.create({
      system,
      store,
      catalog: catalogServiceMock({ entities: [entity('a', '1.1.0')] }),
      auth: mockServices.auth(),
      auditor: {
        async createEvent({ eventId }) {
          const event: { eventId: string; outcome?: string } = { eventId };
          events.push(event);
          return {
            success: async () => {
              event.outcome = 'success';
            },
            fail: async () => {
              event.outcome = 'fail';
            },
          };
        },
      },
      logger: mockServices.logger.mock(),
      plugins: () => ['a', 'b', 'c'],
    });

    refuseWith(new ConflictError("an operation of 'a' is under way"));
    expect(
      (await sync.run()).map(r => [r.pluginId, r.status, r.entityRef]),
    ).toEqual([
      // The short entity ref of the install request, as the catalog keys it.
      ['a', 'error', 'component:default/a'],
      ['b', 'no-linked-entity', undefined],
      ['c', 'not-installed', undefined],
    ]);
    expect(events).toEqual([{ eventId: 'catalog-sync', outcome: 'fail' }]);
    expect(await store.get('a')).toMatchObject({
      status: 'error',
      reason: expect.stringContaining('an operation of'),
    });
    expect((await store.get('a'))?.actedOn).toBeUndefined();
    // The same refusal again: recorded once, audited once.
    const before = await store.get('a');
    expect((await sync.run())[0]).toMatchObject({ status: 'error' });
    expect(events).toHaveLength(1);
    expect(await store.get('a')).toEqual(before);

    refuseWith(undefined);
    expect((await sync.run())[0]).toMatchObject({
      status: 'deployment-started',
      deploymentId: 'd-1',
    });
    expect(updates).toEqual([
      {
        pluginId: 'a',
        version: '1.1.0',
        options: {
          deploymentStrategy: 'rolling',
          deploymentConfig: {},
          reason: 'declared by component:default/a (catalog sync)',
          userId: 'catalog-sync:component:default/a',
        },
      },
    ]);
    expect(events.map(e => e.outcome)).toEqual(['fail', 'success']);
    // The deployment ended (the fake says succeeded) but the plugin still
    // runs 1.0.0: someone moved it back; not deployed again.
    expect((await sync.run())[0]).toMatchObject({ status: 'not-retried' });
    expect(updates).toHaveLength(1);
  });
});
