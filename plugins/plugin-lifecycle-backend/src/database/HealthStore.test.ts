import { createTestDatabases } from '../__testUtils__/databases';
import { INITIAL_PROBE_TREND } from '../domain/health/trends';
import { HealthStatusRecord, HealthStore } from './HealthStore';
import { InstanceStore } from './InstanceStore';
import { applyDatabaseMigrations } from './migrations';
import { PluginStore } from './PluginStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const T0 = Date.parse('2026-11-27T10:00:00.000Z');

function status(
  overrides: Partial<HealthStatusRecord> = {},
): HealthStatusRecord {
  return {
    targetId: 'i1',
    probeName: 'ready',
    pluginId: 'p1',
    instanceId: 'i1',
    probeType: 'readiness',
    status: 'passing',
    consecutiveSuccesses: 3,
    consecutiveFailures: 0,
    lastOk: true,
    lastMessage: 'GET /ready answered 200',
    lastLatencyMs: 1.25,
    lastCheckedAt: T0,
    lastTransitionAt: T0 - 1000,
    trend: INITIAL_PROBE_TREND,
    verdict: 'healthy',
    healthScore: 1,
    ready: true,
    live: true,
    updatedAt: T0,
    reportedBy: 'replica-a',
    ...overrides,
  };
}

describe.each(databases.eachSupportedId())('HealthStore on %s', databaseId => {
  async function createStore() {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    return { knex, store: HealthStore.create({ db: knex }) };
  }

  it('tracks replica heartbeats, removals and silent replicas', async () => {
    const { store } = await createStore();
    await store.heartbeat('replica-b', T0);
    await store.heartbeat('replica-a', T0 - 10_000);
    expect(await store.liveReplicas(T0 - 5_000)).toEqual(['replica-b']);
    await store.heartbeat('replica-a', T0 + 1);
    expect(await store.liveReplicas(T0 - 5_000)).toEqual([
      'replica-a',
      'replica-b',
    ]);
    await store.removeReplica('replica-b');
    expect(await store.liveReplicas(0)).toEqual(['replica-a']);
    await store.heartbeat('replica-c', T0 - 60_000);
    expect(await store.pruneReplicas(T0 - 30_000)).toBe(1);
    expect(await store.liveReplicas(0)).toEqual(['replica-a']);
  });

  it('lists running instances with their plugin probes', async () => {
    const { knex, store } = await createStore();
    const plugins = PluginStore.create({ db: knex });
    const instances = InstanceStore.create({ db: knex });
    await plugins.create({ id: 'p1', tenant: 't', runtime: 'process' });
    await plugins.create({ id: 'p2', tenant: 't', runtime: 'process' });
    const probes = [
      {
        name: 'ready',
        type: 'readiness' as const,
        method: 'http' as const,
        http: { path: '/ready' },
      },
    ];
    await plugins.change('p1', () => ({ probes }));
    const base = {
      version: '1.0.0',
      track: 'stable',
      runtime: 'process',
      host: '127.0.0.1',
      protocol: 'http',
      owner: 'replica-a',
    };
    await instances.insert({
      ...base,
      id: 'i1',
      pluginId: 'p1',
      port: 4001,
      status: 'running',
    });
    await instances.insert({
      ...base,
      id: 'i2',
      pluginId: 'p2',
      port: 4002,
      status: 'running',
    });
    await instances.insert({
      ...base,
      id: 'i3',
      pluginId: 'p1',
      port: 4003,
      status: 'starting',
    });
    const targets = await store.listInstanceTargets();
    expect(targets).toEqual([
      {
        instanceId: 'i1',
        pluginId: 'p1',
        host: '127.0.0.1',
        port: 4001,
        startedAt: expect.any(Number),
        probes,
      },
      {
        instanceId: 'i2',
        pluginId: 'p2',
        host: '127.0.0.1',
        port: 4002,
        startedAt: expect.any(Number),
        probes: [],
      },
    ]);
    expect(
      (await store.listInstanceTargets(['starting'])).map(t => t.instanceId),
    ).toEqual(['i3']);
  });

  it('writes statuses, replacing the row of a target and probe', async () => {
    const { store } = await createStore();
    await store.writeStatuses([
      status(),
      status({ probeName: 'alive', probeType: 'liveness' }),
      status({ targetId: 'i2', instanceId: 'i2', pluginId: 'p2' }),
    ]);
    expect(await store.getStatuses({ pluginId: 'p1' })).toEqual([
      status({ probeName: 'alive', probeType: 'liveness' }),
      status(),
    ]);
    const failing = status({
      status: 'failing',
      consecutiveSuccesses: 0,
      consecutiveFailures: 3,
      lastOk: false,
      lastMessage: undefined,
      lastLatencyMs: undefined,
      circuit: 'open',
      verdict: 'unhealthy',
      healthScore: 0,
      ready: false,
      updatedAt: T0 + 500,
      reportedBy: 'replica-b',
    });
    await store.writeStatuses([failing]);
    expect(await store.getStatuses({ targetIds: ['i1'] })).toEqual(
      expect.arrayContaining([failing]),
    );
    expect(await store.getStatuses({ targetIds: ['i1', 'i2'] })).toHaveLength(
      3,
    );
  });

  it('pages through changes in a stable order, without some reporter', async () => {
    const { store } = await createStore();
    const rows = [
      status({ targetId: 'b', updatedAt: T0 }),
      status({ targetId: 'a', updatedAt: T0 }),
      status({ targetId: 'a', probeName: 'alive', updatedAt: T0 }),
      status({ targetId: 'c', updatedAt: T0 + 1 }),
      status({ targetId: 'd', updatedAt: T0 + 2, reportedBy: 'replica-b' }),
      status({ targetId: 'old', updatedAt: T0 - 1 }),
    ];
    await store.writeStatuses(rows);
    const key = (r: HealthStatusRecord) => `${r.targetId}/${r.probeName}`;
    const first = await store.statusesUpdatedSince({ since: T0, limit: 2 });
    expect(first.map(key)).toEqual(['a/alive', 'a/ready']);
    const second = await store.statusesUpdatedSince({
      after: first[1],
      limit: 2,
    });
    expect(second.map(key)).toEqual(['b/ready', 'c/ready']);
    const third = await store.statusesUpdatedSince({
      after: second[1],
      limit: 2,
    });
    expect(third.map(key)).toEqual(['d/ready']);
    expect(
      (
        await store.statusesUpdatedSince({
          since: T0,
          excludeReporter: 'replica-a',
        })
      ).map(key),
    ).toEqual(['d/ready']);
  });

  it('deletes the statuses of gone targets and probes, and stale ones', async () => {
    const { store } = await createStore();
    await store.writeStatuses([
      status({ targetId: 'a' }),
      status({ targetId: 'a', probeName: 'alive' }),
      status({ targetId: 'b' }),
      status({ targetId: 'c', updatedAt: T0 - 60_000 }),
    ]);
    expect(
      await store.deleteProbes([{ targetId: 'a', probeName: 'alive' }]),
    ).toBe(1);
    expect(await store.deleteTargets(['b'])).toBe(1);
    expect(await store.pruneStatuses(T0 - 1)).toBe(1);
    expect(
      (await store.getStatuses({})).map(s => `${s.targetId}/${s.probeName}`),
    ).toEqual(['a/ready']);
  });

  it('keeps sampled results bounded per probe and by age', async () => {
    const { store } = await createStore();
    const results = [];
    for (let i = 0; i < 12; i++) {
      for (const targetId of ['a', 'b']) {
        results.push({
          targetId,
          pluginId: 'p1',
          probeName: i % 2 ? 'ready' : 'alive',
          ok: i % 3 !== 0,
          latencyMs: i + 0.5,
          message: i % 3 ? undefined : 'x'.repeat(2000),
          checkedAt: T0 + i * 1000,
        });
      }
    }
    await store.insertResults(results);
    const recent = await store.recentResults('p1', { limit: 3 });
    expect(recent).toEqual([
      {
        id: expect.any(Number),
        targetId: 'b',
        pluginId: 'p1',
        probeName: 'ready',
        ok: true,
        latencyMs: 11.5,
        message: undefined,
        checkedAt: T0 + 11_000,
      },
      expect.objectContaining({ targetId: 'a', checkedAt: T0 + 11_000 }),
      expect.objectContaining({ targetId: 'b', checkedAt: T0 + 10_000 }),
    ]);
    expect(
      (await store.recentResults('p1')).find(r => r.message)?.message,
    ).toHaveLength(1000);

    // Target a keeps its newest 2 per probe; b is left alone.
    expect(await store.pruneResults({ maxPerProbe: 2, targetIds: ['a'] })).toBe(
      8,
    );
    const left = await store.recentResults('p1');
    expect(
      left
        .filter(r => r.targetId === 'a')
        .map(r => [r.probeName, r.checkedAt - T0]),
    ).toEqual([
      ['ready', 11_000],
      ['alive', 10_000],
      ['ready', 9_000],
      ['alive', 8_000],
    ]);
    expect(left.filter(r => r.targetId === 'b')).toHaveLength(12);

    // By age: everything checked before T0 + 9 s goes.
    expect(await store.pruneResults({ before: T0 + 9_000 })).toBe(10);
    expect(await store.recentResults('p1')).toHaveLength(6);
  });
});
