import type { Server } from 'node:http';
import {
  AuditorServiceCreateEventOptions,
  SchedulerService,
  ServiceFactory,
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import {
  CatalogService,
  catalogServiceRef,
} from '@backstage/plugin-catalog-node';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  Deployment,
  PLUGIN_ID_ANNOTATION,
  PLUGIN_STRATEGY_ANNOTATION,
  PLUGIN_STRATEGY_CONFIG_ANNOTATION,
  PLUGIN_VERSION_ANNOTATION,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForDeployment,
  waitForOperation,
} from './__testUtils__/testBackend';
import { createTestDatabases } from './__testUtils__/databases';

jest.setTimeout(240_000);

const auth = mockCredentials.user.header();
const api = (path: string) => `/api/plugin-lifecycle${path}`;

/** Opted in with catalogSync.plugins; sync-optout is not. */
const SYNCED = ['sync-main', 'sync-broken', 'sync-gated'];
const PLUGINS = [...SYNCED, 'sync-optout'];
const entityRef = (id: string) => `component:default/${id}`;

/**
 * The catalog as Backstage's in-memory catalog client serves it, over
 * entities the test edits as someone editing catalog-info.yaml would.
 */
const entities = new Map<string, Entity>();
const catalog = () => catalogServiceMock({ entities: [...entities.values()] });
const catalogFactory = createServiceFactory({
  service: catalogServiceRef,
  deps: {},
  factory: () =>
    ({
      getEntitiesByRefs: (req, opts) => catalog().getEntitiesByRefs(req, opts),
      getEntities: (req, opts) => catalog().getEntities(req, opts),
      getEntityByRef: (ref, opts) => catalog().getEntityByRef(ref, opts),
      queryEntities: (req, opts) => catalog().queryEntities(req, opts),
    } as Partial<CatalogService> as CatalogService),
});

function declare(
  id: string,
  annotations: { version?: string; strategy?: string; config?: object },
) {
  entities.set(id, {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name: id,
      namespace: 'default',
      annotations: {
        [PLUGIN_ID_ANNOTATION]: id,
        ...(annotations.version
          ? { [PLUGIN_VERSION_ANNOTATION]: annotations.version }
          : {}),
        ...(annotations.strategy
          ? { [PLUGIN_STRATEGY_ANNOTATION]: annotations.strategy }
          : {}),
        ...(annotations.config
          ? {
              [PLUGIN_STRATEGY_CONFIG_ANNOTATION]: JSON.stringify(
                annotations.config,
              ),
            }
          : {}),
      },
    },
    spec: { type: 'backstage-plugin', owner: 'group:default/team-a' },
  });
}

/** What the auditor was asked to record, and how each event ended. */
const audits: Array<
  AuditorServiceCreateEventOptions & { outcome?: string; result?: unknown }
> = [];
const auditorFactory = createServiceFactory({
  service: coreServices.auditor,
  deps: {},
  factory: () => ({
    async createEvent(options: AuditorServiceCreateEventOptions) {
      const entry: (typeof audits)[number] = { ...options, request: undefined };
      audits.push(entry);
      return {
        async success(o?: { meta?: unknown }) {
          entry.outcome = 'succeeded';
          entry.result = o?.meta;
        },
        async fail(o: { error: Error }) {
          entry.outcome = 'failed';
          entry.result = o.error.message;
        },
      };
    },
  }),
});

/**
 * Backstage's mock scheduler: the test runs catalog sync's passes itself
 * (one at a time, as the real scheduler runs a task on one replica).
 */
const scheduler = mockServices.scheduler() as SchedulerService & {
  factory(options?: {
    skipTaskRunOnStartup?: boolean;
  }): ServiceFactory<SchedulerService, 'plugin', 'singleton'>;
};
const pass = () => scheduler.triggerTask('plugin-lifecycle-catalog-sync');

const databases = createTestDatabases();

describe.each(databases.eachSupportedId())(
  'catalog sync with the real sample plugin on %p',
  databaseId => {
    let server: Server;
    let stop: () => Promise<void>;
    let knex: Knex;

    const get = async (path: string) =>
      (await request(server).get(api(path)).set('Authorization', auth)).body;
    const post = (path: string, body: object) =>
      request(server).post(api(path)).set('Authorization', auth).send(body);
    const deploymentsOf = async (id: string): Promise<Deployment[]> =>
      (await get(`/plugins/${id}/deployments`)).items;
    const syncRecord = (id: string) =>
      knex('catalog_sync').where({ plugin_id: id }).first();

    /** Runs catalog sync passes until `check` answers something truthy. */
    async function eventually<T>(
      what: string,
      check: () => Promise<T | undefined | false>,
      timeoutMs = 60_000,
    ): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        await pass();
        const value = await check();
        if (value) return value;
        await new Promise(r => setTimeout(r, 200));
      }
      throw new Error(`timed out waiting for ${what}`);
    }

    async function expectRuns(id: string, version: string) {
      const plugin = await get(`/plugins/${id}`);
      expect(plugin).toMatchObject({
        state: 'running',
        currentVersion: version,
      });
      const running = plugin.instances.filter(
        (i: { status: string }) => i.status === 'running',
      );
      expect(running.length).toBeGreaterThan(0);
      for (const instance of running) {
        const res = await fetch(`http://${instance.host}:${instance.port}/`);
        expect(((await res.json()) as { version: string }).version).toBe(
          version,
        );
      }
    }

    /** Waits until catalog sync recorded this status (a pass saw the current state). */
    const statusOf = (id: string, status: string) =>
      eventually(`catalog sync status ${status} of ${id}`, async () => {
        const row = await syncRecord(id);
        return row?.status === status ? row : undefined;
      });

    /** Installs 1.0.0 and starts it, linked to its entity. */
    async function installLinked(id: string) {
      const res = await post(`/plugins/${id}/install`, {
        version: '1.0.0',
        entityRef: entityRef(id),
        start: true,
      });
      expect(res.status).toBe(202);
      expect(
        await waitForOperation(server, auth, res.body.operationId, 60_000),
      ).toMatchObject({ status: 'succeeded' });
    }

    beforeAll(async () => {
      knex = await databases.init(databaseId);
      entities.clear();
      audits.length = 0;
      for (const id of SYNCED) declare(id, { version: '1.0.0' });
      // Declares another version from the start, but is not opted in.
      declare('sync-optout', { version: '1.1.0', strategy: 'recreate' });
      const backend = await startLifecycleBackend({
        pluginId: PLUGINS[0],
        extraPluginIds: PLUGINS.slice(1),
        config: {
          orchestrator: { pollInterval: 20 },
          deployments: { tickInterval: 50 },
          runtime: {
            process: { readyTimeout: 3000, stopGracePeriod: 2000 },
          },
          catalogSync: { enabled: true, interval: 1000, plugins: SYNCED },
        },
        features: [
          mockServices.database.factory({ knex }),
          catalogFactory,
          auditorFactory,
          scheduler.factory({ skipTaskRunOnStartup: true }),
        ],
      });
      server = backend.server;
      stop = backend.stop;
      await Promise.all(PLUGINS.map(installLinked));
    });

    afterAll(async () => {
      await stop?.();
      await knex?.destroy();
    });

    it('deploys the version an entity annotation declares, with its strategy, audited as the entity', async () => {
      await statusOf('sync-main', 'in-sync');
      expect(await deploymentsOf('sync-main')).toEqual([]);

      declare('sync-main', {
        version: '1.1.0',
        strategy: 'blue-green',
        config: {
          blueGreen: { smokeTest: { path: '/ready' }, scaleDownDelay: 500 },
        },
      });
      const [started] = await eventually(
        'a deployment of sync-main',
        async () => {
          const list = await deploymentsOf('sync-main');
          return list.length > 0 ? list : undefined;
        },
      );
      const actor = `catalog-sync:${entityRef('sync-main')}`;
      expect(started).toMatchObject({
        strategy: 'blue-green',
        fromVersion: '1.0.0',
        toVersion: '1.1.0',
        createdBy: actor,
        config: { blueGreen: { scaleDownDelay: 500 } },
      });
      const done = await waitForDeployment(server, auth, started.id);
      expect(`${done.phase}: ${done.message ?? ''}`).toMatch(/^succeeded/);
      await expectRuns('sync-main', '1.1.0');
      await statusOf('sync-main', 'in-sync');

      // The operation names the reconciler and the entity.
      expect(await get(`/operations/${started.operationId}`)).toMatchObject({
        type: 'update',
        actor,
      });
      const audited = audits.filter(
        a =>
          a.eventId === 'catalog-sync' &&
          (a.meta as any).pluginId === 'sync-main',
      );
      expect(audited).toEqual([
        expect.objectContaining({
          severityLevel: 'medium',
          meta: {
            actor: {
              type: 'catalog-sync',
              entityRef: entityRef('sync-main'),
              userId: actor,
            },
            pluginId: 'sync-main',
            fromVersion: '1.0.0',
            toVersion: '1.1.0',
            strategy: 'blue-green',
          },
          outcome: 'succeeded',
          result: {
            operationId: started.operationId,
            deploymentId: started.id,
          },
        }),
      ]);
      // Nothing more once it runs the declared version.
      expect(await deploymentsOf('sync-main')).toHaveLength(1);
    });

    it('does not retry a declared version that was rolled back, until the annotation changes again', async () => {
      await statusOf('sync-broken', 'in-sync');
      // 2.0.0 never gets ready: the canary is rolled back.
      declare('sync-broken', {
        version: '2.0.0',
        strategy: 'canary',
        config: { canary: { trafficIncrement: 50, incrementInterval: 1000 } },
      });
      const [broken] = await eventually(
        'a deployment of sync-broken',
        async () => {
          const list = await deploymentsOf('sync-broken');
          return list.length > 0 ? list : undefined;
        },
      );
      expect(broken).toMatchObject({ strategy: 'canary', toVersion: '2.0.0' });
      expect(await waitForDeployment(server, auth, broken.id)).toMatchObject({
        phase: 'rolled-back',
      });
      const row = await statusOf('sync-broken', 'not-retried');
      expect(row.reason).toContain(
        `deployment ${broken.id} to 2.0.0 ended rolled-back`,
      );
      // Passes go on; none starts another deployment.
      const updatedAt = String(row.updated_at);
      for (let i = 0; i < 5; i++) await pass();
      expect(await deploymentsOf('sync-broken')).toHaveLength(1);
      expect(await syncRecord('sync-broken')).toMatchObject({
        status: 'not-retried',
      });
      expect(String((await syncRecord('sync-broken')).updated_at)).toBe(
        updatedAt,
      );
      await expectRuns('sync-broken', '1.0.0');
      // Why, for anyone who may read the plugin.
      expect(await get('/plugins/sync-broken/catalog-sync')).toEqual({
        pluginId: 'sync-broken',
        enabled: true,
        status: 'not-retried',
        reason: row.reason,
        entityRef: entityRef('sync-broken'),
        deploymentId: broken.id,
        updatedAt: expect.any(String),
      });

      // A new declaration is acted on.
      declare('sync-broken', { version: '1.1.0', strategy: 'rolling' });
      const next = await eventually('a second deployment', async () => {
        const list = await deploymentsOf('sync-broken');
        return list.length > 1 ? list[0] : undefined;
      });
      expect(next).toMatchObject({ strategy: 'rolling', toVersion: '1.1.0' });
      expect(await waitForDeployment(server, auth, next.id)).toMatchObject({
        phase: 'succeeded',
      });
      await expectRuns('sync-broken', '1.1.0');
    });

    it('never starts a second deployment while one is active', async () => {
      await statusOf('sync-gated', 'in-sync');
      // A person's deployment, waiting for an approval.
      const res = await post('/plugins/sync-gated/update', {
        version: '1.1.0',
        deploymentConfig: { approvals: { beforeStart: {} } },
      });
      expect(res.status).toBe(202);
      const personal = res.body.deploymentId as string;
      await waitForDeployment(server, auth, personal, {
        phases: ['awaiting-approval'],
      });
      declare('sync-gated', { version: '1.1.0', strategy: 'blue-green' });
      const row = await statusOf('sync-gated', 'deployment-active');
      expect(row.reason).toContain(
        `deployment ${personal} (to 1.1.0) is active`,
      );
      for (let i = 0; i < 5; i++) await pass();
      expect((await deploymentsOf('sync-gated')).map(d => d.id)).toEqual([
        personal,
      ]);
      // Once the person's deployment is through, the plugin runs what the
      // entity declares: nothing to do.
      expect((await post(`/deployments/${personal}/approve`, {})).status).toBe(
        200,
      );
      expect(await waitForDeployment(server, auth, personal)).toMatchObject({
        phase: 'succeeded',
      });
      await statusOf('sync-gated', 'in-sync');
      expect(await deploymentsOf('sync-gated')).toHaveLength(1);
    });

    it('leaves a plugin that is not opted in alone', async () => {
      for (let i = 0; i < 3; i++) await pass();
      expect(await deploymentsOf('sync-optout')).toEqual([]);
      expect(await syncRecord('sync-optout')).toBeUndefined();
      expect(await get('/plugins/sync-optout/catalog-sync')).toEqual({
        pluginId: 'sync-optout',
        enabled: false,
      });
      await expectRuns('sync-optout', '1.0.0');
    });
  },
);
