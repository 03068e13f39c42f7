import { mockServices } from '@backstage/backend-test-utils';
import { InputError, NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { createTestDatabases } from '../../__testUtils__/databases';
import { InstanceStore } from '../../database/InstanceStore';
import { applyDatabaseMigrations } from '../../database/migrations';
import { PluginStore, StoredVersion } from '../../database/PluginStore';
import { ALL_TENANTS } from '../../domain/tenancy';
import { InstanceManager } from '../lifecycle/InstanceManager';
import { ExternalRuntime } from '../runtime/ExternalRuntime';
import { RuntimeRegistry } from '../runtime/RuntimeRegistry';
import { ServiceDiscovery, ServiceDiscoveryOptions } from './ServiceDiscovery';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const scope = ALL_TENANTS;

/** Waits for something another replica does; never asserts on how long it took. */
async function eventually<T>(fn: () => T | undefined | false): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const value = fn();
    if (value !== undefined && value !== false) return value;
    await new Promise(r => setTimeout(r, 25));
  }
  throw new Error('condition not met');
}

async function failure(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe.each(databases.eachSupportedId())(
  'Traffic splits on %s',
  databaseId => {
    let knex: Knex;
    const started: ServiceDiscovery[] = [];

    async function createDiscovery(
      options: Partial<ServiceDiscoveryOptions> = {},
    ) {
      const discovery = ServiceDiscovery.create({
        db: knex,
        logger: mockServices.logger.mock(),
        pollIntervalMs: 60_000,
        expireIntervalMs: 0,
        ...options,
      });
      await discovery.start();
      started.push(discovery);
      return discovery;
    }

    beforeEach(async () => {
      knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
    });

    afterEach(async () => {
      for (const discovery of started.splice(0)) await discovery.stop();
      await knex.destroy();
    });

    const register = (
      discovery: ServiceDiscovery,
      serviceId: string,
      fields: Record<string, unknown> = {},
    ) =>
      discovery.registerService(
        {
          serviceId,
          serviceName: 'billing',
          host: '10.0.0.1',
          port: 8080,
          ...fields,
        },
        { scope },
      );

    const registerVersions = async (discovery: ServiceDiscovery) => {
      await register(discovery, 'a1', { version: '1.0.0', port: 8081 });
      await register(discovery, 'a2', { version: '1.0.0', port: 8082 });
      await register(discovery, 'b', {
        version: '1.1.0',
        port: 8083,
        metadata: { track: 'canary' },
      });
    };

    const picks = (
      discovery: ServiceDiscovery,
      count: number,
      headers?: Record<string, string>,
    ) =>
      Array.from(
        { length: count },
        () =>
          discovery.pickInstance('billing', {}, { scope, headers }).serviceId,
      );
    const toB = (ids: string[]) => ids.filter(id => id === 'b').length;

    it('stores the split: this replica follows it when the call returns, another on its next sync, a new one at start', async () => {
      const one = await createDiscovery();
      // PostgreSQL: NOTIFY wakes it; SQLite: its poll every 20 ms.
      const two = await createDiscovery({ pollIntervalMs: 20 });
      await registerVersions(one);
      await two.refresh();

      const answer = await one.setTrafficSplit(
        'billing',
        { weights: { 'stable/1.0.0': 80, 'canary/1.1.0': 20 } },
        { scope },
      );
      expect(answer).toEqual({
        serviceName: 'billing',
        tenant: 'default',
        split: true,
        subsets: [
          { key: 'canary/1.1.0', weight: 20, instances: 1 },
          { key: 'stable/1.0.0', weight: 80, instances: 2 },
        ],
      });
      // Exact: smooth weighted round robin over the subsets.
      expect(toB(picks(one, 100))).toBe(20);

      await eventually(() => two.getSubsets('billing', { scope }).split);
      expect(two.getSubsets('billing', { scope })).toEqual(answer);
      expect(toB(picks(two, 100))).toBe(20);

      // A backend started now loads it with its view.
      const three = await createDiscovery();
      expect(three.getSubsets('billing', { scope })).toEqual(answer);

      // Undefined ends it, everywhere.
      expect(
        await one.setTrafficSplit('billing', undefined, { scope }),
      ).toMatchObject({ split: false });
      await eventually(() => !two.getSubsets('billing', { scope }).split);
      expect(new Set(picks(two, 3))).toEqual(new Set(['a1', 'a2', 'b']));
      await three.refresh();
      expect(three.getSubsets('billing', { scope }).split).toBe(false);
      // Ending a split that is not there changes nothing.
      expect(
        await one.setTrafficSplit('billing', undefined, { scope }),
      ).toMatchObject({ split: false });
    });

    it('sends requests with the header or cookie to the match subset, the others by weight', async () => {
      const discovery = await createDiscovery();
      await registerVersions(discovery);
      const answer = await discovery.setTrafficSplit(
        'billing',
        {
          weights: { 'stable/1.0.0': 100 },
          match: {
            subset: 'canary/1.1.0',
            header: { name: 'X-Variant', value: 'B' },
          },
        },
        { scope },
      );
      expect(answer.match).toEqual({
        subset: 'canary/1.1.0',
        header: { name: 'X-Variant', value: 'B' },
      });
      expect(picks(discovery, 10, { 'x-variant': 'B' })).toEqual(
        Array(10).fill('b'),
      );
      // Exact value, case-sensitive; no header: by weight (all to A).
      expect(toB(picks(discovery, 10, { 'x-variant': 'b' }))).toBe(0);
      expect(toB(picks(discovery, 10))).toBe(0);
      // The routing table carries the match and B's instance at weight 0.
      const pool = discovery.routingTable(scope).pools[0];
      expect(pool.match?.subset).toBe('canary/1.1.0');
      expect(pool.subsets?.map(s => [s.key, s.instances.length])).toEqual([
        ['canary/1.1.0', 1],
        ['stable/1.0.0', 2],
      ]);
      expect(pool.instances.map(i => i.resolved.serviceId)).toEqual([
        'a1',
        'a2',
      ]);

      await discovery.setTrafficSplit(
        'billing',
        {
          weights: { 'stable/1.0.0': 50, 'canary/1.1.0': 50 },
          match: {
            subset: 'canary/1.1.0',
            cookie: { name: 'ab-group', value: 'b' },
          },
        },
        { scope },
      );
      expect(
        toB(picks(discovery, 10, { cookie: 'session=1; ab-group=b; x=y' })),
      ).toBe(10);
      // Matching requests take no turn of the weighted rotation: the others still split 50/50.
      const mixed = Array.from({ length: 20 }, (_, i) =>
        discovery.pickInstance(
          'billing',
          {},
          {
            scope,
            headers:
              i % 2 ? { cookie: 'ab-group=b' } : { cookie: 'ab-group=a' },
          },
        ),
      );
      expect(
        mixed.filter((_, i) => i % 2 === 0).filter(p => p.serviceId === 'b'),
      ).toHaveLength(5);
    });

    it('keeps the weight of a subset without instances; its requests go by weight until it has one', async () => {
      const discovery = await createDiscovery();
      await register(discovery, 'a1', { version: '1.0.0' });
      await discovery.setTrafficSplit(
        'billing',
        {
          weights: { 'stable/1.0.0': 90, 'canary/2.0.0': 10 },
          match: {
            subset: 'canary/2.0.0',
            header: { name: 'x-variant', value: 'B' },
          },
        },
        { scope },
      );
      expect(discovery.getSubsets('billing', { scope }).subsets).toEqual([
        { key: 'canary/2.0.0', weight: 10, instances: 0 },
        { key: 'stable/1.0.0', weight: 90, instances: 1 },
      ]);
      expect(new Set(picks(discovery, 20, { 'x-variant': 'B' }))).toEqual(
        new Set(['a1']),
      );
      await register(discovery, 'b', {
        version: '2.0.0',
        metadata: { track: 'canary' },
      });
      expect(picks(discovery, 3, { 'x-variant': 'B' })).toEqual([
        'b',
        'b',
        'b',
      ]);
      expect(toB(picks(discovery, 100))).toBe(10);
    });

    it("keeps this replica's own subset weights over the stored split until a split is written here", async () => {
      const discovery = await createDiscovery();
      await registerVersions(discovery);
      await discovery.setTrafficSplit(
        'billing',
        { weights: { 'stable/1.0.0': 1 } },
        { scope },
      );
      discovery.setSubsetWeights('billing', { 'canary/1.1.0': 1 }, { scope });
      expect(toB(picks(discovery, 10))).toBe(10);
      // A reload of the stored splits leaves them.
      await discovery.refresh();
      expect(toB(picks(discovery, 10))).toBe(10);
      // {} goes back to the stored split.
      discovery.setSubsetWeights('billing', {}, { scope });
      expect(toB(picks(discovery, 10))).toBe(0);
      discovery.setSubsetWeights('billing', { 'canary/1.1.0': 1 }, { scope });
      await discovery.setTrafficSplit(
        'billing',
        { weights: { 'stable/1.0.0': 1, 'canary/1.1.0': 1 } },
        { scope },
      );
      expect(toB(picks(discovery, 10))).toBe(5);
    });

    it('names what is wrong with a split, and a service the caller cannot see', async () => {
      const discovery = await createDiscovery();
      await registerVersions(discovery);
      const bad = (split: unknown) =>
        failure(() =>
          discovery.setTrafficSplit('billing', split as any, { scope }),
        );
      expect(await bad({ weights: { a: 0 } })).toEqual(
        new InputError(
          'Invalid traffic split: weights: at least one subset needs a weight above 0',
        ),
      );
      expect((await bad({ weights: { a: 1.5 } })).message).toContain(
        'must be a whole number',
      );
      expect(
        (
          await bad({
            weights: { a: 1 },
            match: { subset: 'b', header: { name: 'bad name', value: 'x' } },
          })
        ).message,
      ).toContain('must be an HTTP header name');
      expect(
        (
          await bad({
            weights: { a: 1 },
            match: {
              subset: 'b',
              cookie: { name: 'c', value: 'with space' },
            },
          })
        ).message,
      ).toMatch(/^Invalid traffic split: /);
      expect(
        (await bad({ weights: { a: 1 }, match: { subset: 'b' } })).message,
      ).toMatch(/^Invalid traffic split: /);
      expect(
        await failure(() =>
          discovery.setTrafficSplit(
            'nothing',
            { weights: { a: 1 } },
            { scope },
          ),
        ),
      ).toBeInstanceOf(NotFoundError);
      // Nothing was stored.
      expect(
        Number((await knex('traffic_splits').count({ n: '*' }))[0].n),
      ).toBe(0);
    });

    it('groups a plugin instance by the track it was started with, and by its new track after setTrack', async () => {
      const plugins = PluginStore.create({ db: knex });
      await plugins.create({
        id: 'shop',
        tenant: 'default',
        runtime: 'external',
      });
      const instances = InstanceStore.create({ db: knex });
      const runtime = ExternalRuntime.create();
      const manager = InstanceManager.create({
        instances,
        runtimes: RuntimeRegistry.create([runtime]),
        replicaId: 'replica-1',
        resolveConfiguration: async () => ({
          environment: 'production',
          revision: 0,
          versions: { base: 0, environment: 0 },
          entries: [],
        }),
        readyTimeoutMs: 1_000,
        stopGracePeriodMs: 1_000,
      });
      const version = (v: string, port: number): StoredVersion => ({
        pluginId: 'shop',
        version: v,
        artifact: {
          type: 'external',
          endpoints: [{ host: '127.0.0.1', port, protocol: 'http' }],
        },
        manifest: {} as StoredVersion['manifest'],
        installedAt: new Date().toISOString(),
      });
      const discovery = await createDiscovery();
      const plugin = (await plugins.get('shop'))!;
      const startOne = async (
        v: string,
        port: number,
        options?: { track?: string },
      ) => {
        const instance = await manager.start(
          plugin,
          version(v, port),
          runtime,
          new AbortController().signal,
          () => {},
          undefined,
          options,
        );
        await instances.setStatus(instance.instanceId, 'running');
        return instance.instanceId;
      };
      const stable = await startOne('1.0.0', 9101);
      const canary = await startOne('1.1.0', 9102, { track: 'canary' });
      expect((await instances.get(canary))?.track).toBe('canary');
      expect((await instances.get(stable))?.track).toBe('stable');
      await discovery.refresh();
      const subsets = await discovery.setTrafficSplit(
        'shop',
        { weights: { 'stable/1.0.0': 1, 'canary/1.1.0': 1 } },
        { scope },
      );
      expect(subsets.subsets).toEqual([
        { key: 'canary/1.1.0', weight: 1, instances: 1 },
        { key: 'stable/1.0.0', weight: 1, instances: 1 },
      ]);

      // Promoted: the same instance, now stable/1.1.0.
      expect(await manager.setTrack([canary], 'stable')).toBe(1);
      await discovery.refresh();
      expect(discovery.getSubsets('shop', { scope }).subsets).toEqual([
        { key: 'canary/1.1.0', weight: 1, instances: 0 },
        { key: 'stable/1.0.0', weight: 1, instances: 1 },
        { key: 'stable/1.1.0', weight: 0, instances: 1 },
      ]);
      await discovery.setTrafficSplit(
        'shop',
        { weights: { 'stable/1.1.0': 1 } },
        { scope },
      );
      expect(discovery.pickInstance('shop', {}, { scope }).serviceId).toBe(
        canary,
      );
      // Already there: nothing changes, nothing is logged.
      expect(await instances.setTrack([canary], 'stable')).toBe(0);
      await expect(instances.setTrack([canary], 'a/b')).rejects.toThrow(
        "Invalid track 'a/b'",
      );
      await expect(startOne('1.1.0', 9103, { track: '' })).rejects.toThrow(
        "Invalid track ''",
      );
    });
  },
);
