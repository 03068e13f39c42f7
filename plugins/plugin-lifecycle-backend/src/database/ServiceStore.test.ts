import { ConflictError } from '@backstage/errors';
import { createTestDatabases } from '../__testUtils__/databases';
import { InstanceStore } from './InstanceStore';
import { applyDatabaseMigrations } from './migrations';
import { PluginStore } from './PluginStore';
import { ServiceInput, ServiceStore } from './ServiceStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();

const T0 = new Date('2026-11-27T10:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

function input(
  serviceId: string,
  fields: Partial<ServiceInput> = {},
): ServiceInput {
  return {
    serviceId,
    tenant: 't1',
    serviceName: 'billing',
    serviceType: 'http',
    host: '10.0.0.1',
    port: 8080,
    protocol: 'http',
    weight: 100,
    tags: [],
    metadata: {},
    ...fields,
  };
}

describe.each(databases.eachSupportedId())('ServiceStore on %s', databaseId => {
  async function createStore() {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    return { knex, store: ServiceStore.create({ db: knex }) };
  }

  it('registers many in one transaction: all, with one log entry each, or none', async () => {
    const { store } = await createStore();
    await store.register(input('taken', { tenant: 't2' }), T0);
    const before = await store.maxRevision();
    await expect(
      store.registerMany([input('m-1'), input('taken')], at(1)),
    ).rejects.toThrow(ConflictError);
    expect(await store.get('m-1')).toBeUndefined();
    expect(await store.maxRevision()).toBe(before);

    await store.update('taken', { ready: false }, at(2));
    const results = await store.registerMany(
      [
        input('m-1', { ttlMs: 1_000 }),
        input('m-2'),
        input('taken', { tenant: 't2', port: 1 }),
      ],
      at(3),
    );
    expect(
      results.map(r => [r.service.serviceId, r.created, r.service.ready]),
    ).toEqual([
      ['m-1', true, true],
      ['m-2', true, true],
      ['taken', false, false],
    ]);
    expect(results[2].service.port).toBe(1);
    expect(results[2].service.registeredAt).toBe(T0.toISOString());
    expect(results[0].service.expiresAt).toBe(at(1_003).toISOString());
    const changes = await store.changesSince(before);
    expect(
      changes
        .filter(c => c.kind === 'upsert')
        .map(c => c.serviceId)
        .sort(),
    ).toEqual(['m-1', 'm-2', 'taken', 'taken']);
  });

  it('takes heartbeats in bulk: one update per TTL setting, the slow path for expired services', async () => {
    const { store } = await createStore();
    await store.registerMany(
      [
        input('a', { ttlMs: 1_000 }),
        input('b', { ttlMs: 1_000 }),
        input('c', { ttlMs: 2_000 }),
        input('d'),
      ],
      T0,
    );
    await store.expire(at(1_500));
    const { renewed, unknown } = await store.heartbeatMany(
      ['a', 'b', 'c', 'd', 'x'],
      at(1_600),
    );
    expect(unknown).toEqual(['x']);
    expect(
      renewed
        .map(r => [r.service.serviceId, r.revived, r.service.expiresAt ?? null])
        .sort(),
    ).toEqual([
      ['a', true, at(2_600).toISOString()],
      ['b', true, at(2_600).toISOString()],
      ['c', false, at(3_600).toISOString()],
      ['d', false, null],
    ]);
    expect((await store.get('a'))!.expiredAt).toBeUndefined();
    expect((await store.get('c'))!.expiresAt).toBe(at(3_600).toISOString());
  });

  it('registers, replaces by id and keeps what a replacement must not reset', async () => {
    const { store } = await createStore();
    const first = await store.register(
      input('b-1', {
        version: '1.0.0',
        maxConnections: 10,
        strategy: 'least-connections',
        tags: ['eu'],
        metadata: { zone: 'a' },
        healthCheck: {
          name: 'ready',
          type: 'readiness',
          method: 'http',
          http: { path: '/health' },
        },
        ttlMs: 10_000,
        deregisterAfterMs: 30_000,
        pluginId: 'billing-plugin',
      }),
      T0,
    );
    expect(first.created).toBe(true);
    expect(first.service).toEqual({
      serviceId: 'b-1',
      tenant: 't1',
      pluginId: 'billing-plugin',
      serviceName: 'billing',
      serviceType: 'http',
      version: '1.0.0',
      host: '10.0.0.1',
      port: 8080,
      protocol: 'http',
      weight: 100,
      maxConnections: 10,
      strategy: 'least-connections',
      tags: ['eu'],
      metadata: { zone: 'a' },
      healthCheck: {
        name: 'ready',
        type: 'readiness',
        method: 'http',
        http: { path: '/health' },
      },
      ttlMs: 10_000,
      deregisterAfterMs: 30_000,
      lastHeartbeatAt: T0.toISOString(),
      expiresAt: at(10_000).toISOString(),
      deregisterAt: at(30_000).toISOString(),
      ready: true,
      healthScore: 1,
      registeredAt: T0.toISOString(),
      updatedAt: T0.toISOString(),
      revision: expect.any(Number),
    });
    expect(await store.get('b-1')).toEqual(first.service);

    await store.setReady('b-1', false);
    const second = await store.register(
      input('b-1', { port: 9090, weight: 5 }),
      at(1000),
    );
    expect(second.created).toBe(false);
    expect(second.service).toMatchObject({
      port: 9090,
      weight: 5,
      ready: false,
      registeredAt: T0.toISOString(),
      updatedAt: at(1000).toISOString(),
    });
    expect(second.service.maxConnections).toBeUndefined();
    expect(second.service.ttlMs).toBeUndefined();
    expect(second.service.expiresAt).toBeUndefined();
    expect(second.service.revision).toBeGreaterThan(first.service.revision);

    await expect(
      store.register(input('b-1', { tenant: 't2' }), T0),
    ).rejects.toThrow(ConflictError);
  });

  it('lists by tenant and name, and deregisters', async () => {
    const { store } = await createStore();
    await store.register(input('a'), T0);
    await store.register(input('b', { serviceName: 'search' }), T0);
    await store.register(input('c', { tenant: 't2' }), T0);

    const ids = async (filter: Parameters<ServiceStore['list']>[0]) =>
      (await store.list(filter)).map(s => s.serviceId);
    expect(await ids({})).toEqual(['a', 'c', 'b']);
    expect(await ids({ tenants: ['t1'] })).toEqual(['a', 'b']);
    expect(await ids({ serviceName: 'billing' })).toEqual(['a', 'c']);
    expect(await ids({ tenants: ['t2'], serviceName: 'billing' })).toEqual([
      'c',
    ]);
    expect(await ids({ tenants: [] })).toEqual([]);
    expect((await store.getMany(['a', 'zzz'])).map(s => s.serviceId)).toEqual([
      'a',
    ]);

    expect((await store.deregister('a'))?.serviceId).toBe('a');
    expect(await store.deregister('a')).toBeUndefined();
    expect(await ids({})).toEqual(['c', 'b']);
  });

  it('changes live settings, logging only real changes', async () => {
    const { store } = await createStore();
    await store.register(input('a', { maxConnections: 3 }), T0);
    const before = await store.maxRevision();

    expect(await store.setWeight('a', 7)).toMatchObject({ weight: 7 });
    expect(await store.setMaxConnections('a', null)).not.toHaveProperty(
      'maxConnections',
    );
    expect(await store.setHealthScore('a', 0.25)).toMatchObject({
      healthScore: 0.25,
    });
    expect(await store.setReady('a', false)).toMatchObject({ ready: false });
    const after = await store.maxRevision();
    expect(after - before).toBe(4);

    await store.setWeight('a', 7);
    expect(await store.maxRevision()).toBe(after);
    expect(await store.setWeight('nope', 1)).toBeUndefined();
    expect(await store.get('a')).toMatchObject({
      weight: 7,
      healthScore: 0.25,
      ready: false,
      revision: after,
    });
  });

  it('expires services past their TTL and removes those past deregistration', async () => {
    const { store } = await createStore();
    await store.register(
      input('short', { ttlMs: 5_000, deregisterAfterMs: 8_000 }),
      T0,
    );
    await store.register(input('long', { ttlMs: 60_000 }), T0);
    await store.register(input('forever'), T0);

    expect(await store.expire(at(4_999))).toEqual({
      expired: [],
      deregistered: [],
    });
    expect(await store.expire(at(5_000))).toEqual({
      expired: ['short'],
      deregistered: [],
    });
    expect((await store.get('short'))?.expiredAt).toBe(at(5_000).toISOString());
    // Twice is harmless: nothing more to do.
    expect(await store.expire(at(6_000))).toEqual({
      expired: [],
      deregistered: [],
    });

    // A heartbeat revives it and pushes both deadlines out.
    const revived = await store.heartbeat('short', at(7_000));
    expect(revived?.revived).toBe(true);
    expect(revived?.service.expiredAt).toBeUndefined();
    expect(revived?.service.deregisterAt).toBe(at(15_000).toISOString());
    expect(await store.expire(at(8_000))).toEqual({
      expired: [],
      deregistered: [],
    });

    expect(await store.expire(at(15_000))).toEqual({
      expired: [],
      deregistered: ['short'],
    });
    expect(await store.get('short')).toBeUndefined();
    expect(await store.expire(at(61_000))).toEqual({
      expired: ['long'],
      deregistered: [],
    });
    expect((await store.get('forever'))?.expiredAt).toBeUndefined();
  });

  it('takes heartbeats without logging unless they revive', async () => {
    const { store } = await createStore();
    await store.register(input('a', { ttlMs: 5_000 }), T0);
    const revision = await store.maxRevision();
    const beat = await store.heartbeat('a', at(3_000));
    expect(beat).toEqual({
      service: expect.objectContaining({
        lastHeartbeatAt: at(3_000).toISOString(),
        expiresAt: at(8_000).toISOString(),
      }),
      revived: false,
    });
    expect(await store.maxRevision()).toBe(revision);
    expect((await store.get('a'))?.expiresAt).toBe(at(8_000).toISOString());
    expect(await store.heartbeat('nope', T0)).toBeUndefined();
  });

  it('logs every change for the other replicas, deletions included', async () => {
    const { store } = await createStore();
    const start = await store.maxRevision();
    await store.register(input('a'), T0);
    await store.register(input('b'), T0);
    await store.setWeight('a', 1);
    await store.deregister('b');
    await store.setInstanceOverride('inst-1', { weight: 5 });

    const changes = await store.changesSince(start);
    expect(changes.map(c => [c.serviceId, c.kind])).toEqual([
      ['a', 'upsert'],
      ['b', 'upsert'],
      ['a', 'upsert'],
      ['b', 'delete'],
      ['inst-1', 'override'],
    ]);
    const revisions = changes.map(c => c.revision);
    expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
    expect(await store.maxRevision()).toBe(revisions[4]);
    expect(await store.changesSince(revisions[2])).toHaveLength(2);
    expect(await store.changesSince(start, 2)).toHaveLength(2);
    expect((await store.get('a'))?.revision).toBe(revisions[2]);

    // Pruning keeps the newest entry, so the revision never goes back.
    expect(await store.pruneChanges(at(365 * 24 * 3_600_000 * 10))).toBe(4);
    expect(await store.minRevision()).toBe(revisions[4]);
    expect(await store.maxRevision()).toBe(revisions[4]);
  });

  it('leaves out the instances of a plugin in maintenance, and re-reads them when it enters or leaves it', async () => {
    const { knex, store } = await createStore();
    const plugins = PluginStore.create({ db: knex });
    const instances = InstanceStore.create({ db: knex });
    await plugins.create({
      id: 'sample',
      tenant: 'team-a',
      runtime: 'process',
    });
    for (const [id, status] of [
      ['i-1', 'running'],
      ['i-2', 'stopped'],
    ] as const) {
      await instances.insert({
        id,
        pluginId: 'sample',
        version: '1.0.0',
        track: 'stable',
        runtime: 'process',
        host: '127.0.0.1',
        port: 7001,
        protocol: 'http',
        owner: 'replica-1',
        status,
      });
    }
    expect((await store.listRunningInstances()).instances).toHaveLength(1);
    expect(await store.getRunningInstances(['i-1'])).toHaveLength(1);

    await knex('plugins')
      .where({ id: 'sample' })
      .update({ state: 'maintenance' });
    expect(await store.listRunningInstances()).toEqual({
      plugins: [{ pluginId: 'sample', tenant: 'team-a' }],
      instances: [],
    });
    expect(await store.getRunningInstances(['i-1'])).toEqual([]);

    // The transition's log entries: one per active instance.
    const before = await store.maxRevision();
    expect(await instances.announceInstances('sample')).toBe(1);
    const logged = await knex('service_changes')
      .where('revision', '>', before)
      .select('service_id', 'kind');
    expect(logged).toEqual([{ service_id: 'i-1', kind: 'instance' }]);
  });

  it('keeps live settings of plugin instances and reads running instances with their tenant', async () => {
    const { knex, store } = await createStore();
    const plugins = PluginStore.create({ db: knex });
    const instances = InstanceStore.create({ db: knex });
    await plugins.create({
      id: 'sample',
      tenant: 'team-a',
      runtime: 'process',
    });
    await plugins.create({ id: 'idle', tenant: 'team-b', runtime: 'process' });
    const base = {
      pluginId: 'sample',
      version: '1.0.0',
      track: 'stable',
      runtime: 'process',
      host: '127.0.0.1',
      protocol: 'http',
      owner: 'replica-1',
    };
    await instances.insert({
      ...base,
      id: 'i-1',
      port: 7001,
      status: 'running',
    });
    await instances.insert({
      ...base,
      id: 'i-2',
      port: 7002,
      status: 'starting',
    });
    await instances.insert({
      ...base,
      id: 'i-3',
      port: 7003,
      status: 'stopped',
    });

    expect(await store.listRunningInstances()).toEqual({
      plugins: [
        { pluginId: 'idle', tenant: 'team-b' },
        { pluginId: 'sample', tenant: 'team-a' },
      ],
      instances: [
        {
          instanceId: 'i-1',
          pluginId: 'sample',
          tenant: 'team-a',
          runtime: 'process',
          version: '1.0.0',
          track: 'stable',
          host: '127.0.0.1',
          port: 7001,
          protocol: 'http',
        },
      ],
    });
    expect(await store.isInstanceId('i-3')).toBe(true);
    expect(await store.isInstanceId('zzz')).toBe(false);
    expect(await store.pluginTenant('sample')).toBe('team-a');
    expect(await store.pluginTenant('zzz')).toBeUndefined();

    const first = await store.setInstanceOverride('i-1', {
      weight: 10,
      ready: false,
    });
    expect(first).toMatchObject({
      instanceId: 'i-1',
      weight: 10,
      ready: false,
    });
    const same = await store.setInstanceOverride('i-1', { weight: 10 });
    expect(same.revision).toBe(first.revision);
    const cleared = await store.setInstanceOverride('i-1', {
      ready: null,
      healthScore: 0.5,
      maxConnections: 4,
    });
    expect(cleared).toEqual({
      instanceId: 'i-1',
      weight: 10,
      maxConnections: 4,
      healthScore: 0.5,
      updatedAt: expect.any(String),
      revision: expect.any(Number),
    });
    await store.setInstanceOverride('i-3', { weight: 1 });
    expect(
      (await store.listInstanceOverrides()).map(o => o.instanceId).sort(),
    ).toEqual(['i-1', 'i-3']);
    expect(await store.listInstanceOverrides([])).toEqual([]);

    // i-3 stopped: its override goes.
    expect(await store.pruneInstanceOverrides()).toBe(1);
    expect(
      (await store.listInstanceOverrides(['i-1', 'i-3'])).map(
        o => o.instanceId,
      ),
    ).toEqual(['i-1']);
  });
});
