import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { TestDatabaseId, mockServices } from '@backstage/backend-test-utils';
import { InputError, NotFoundError } from '@backstage/errors';
import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { createTestDatabases } from '../../__testUtils__/databases';
import { HealthStore } from '../../database/HealthStore';
import { InstanceStore } from '../../database/InstanceStore';
import { applyDatabaseMigrations } from '../../database/migrations';
import { PluginStore } from '../../database/PluginStore';
import { RendezvousAssigner } from '../../domain/health/assignment';
import { RemediationAction } from '../../domain/health/remediation';
import { HealthCheckFailure } from '../../events/eventMap';
import { SystemEvents } from '../../events/SystemEvents';
import {
  HealthMonitor,
  HealthMonitorOptions,
  HealthVerdictChange,
} from './HealthMonitor';

jest.setTimeout(60_000);

const databases = createTestDatabases();

/** A real HTTP server whose answer per path the test sets, counting hits. */
interface TestServer {
  port: number;
  status: Map<string, number>;
  hits: Map<string, number>;
  server: Server;
}

async function startServer(): Promise<TestServer> {
  const status = new Map<string, number>();
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    res.writeHead(status.get(path) ?? 200).end(`answer for ${path}`);
  });
  await new Promise<void>(resolve =>
    server.listen(0, '127.0.0.1', () => resolve()),
  );
  return {
    port: (server.address() as AddressInfo).port,
    status,
    hits,
    server,
  };
}

/** Waits until `read` returns something other than undefined or false. */
async function waitFor<T>(
  read: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`waited in vain for ${what}`);
    await new Promise(r => setTimeout(r, 10));
  }
}

const FAST = {
  periodSeconds: 0.02,
  timeoutSeconds: 0.5,
  failureThreshold: 2,
};

function http(
  name: string,
  type: ProbeDefinition['type'],
  path: string,
  extra: Partial<ProbeDefinition> = {},
): ProbeDefinition {
  return { name, type, method: 'http', http: { path }, ...FAST, ...extra };
}

describe('HealthMonitor against real HTTP servers', () => {
  const servers: TestServer[] = [];
  const monitors: HealthMonitor[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 6; i++) servers.push(await startServer());
  });

  afterEach(async () => {
    await Promise.all(monitors.splice(0).map(m => m.stop()));
    for (const s of servers) {
      s.status.clear();
      s.hits.clear();
    }
  });

  afterAll(async () => {
    for (const s of servers) {
      s.server.closeAllConnections();
      await new Promise(resolve => s.server.close(resolve));
    }
  });

  async function setup(databaseId: TestDatabaseId = 'SQLITE_3') {
    const db = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => db });
    return {
      db,
      plugins: PluginStore.create({ db }),
      instances: InstanceStore.create({ db }),
      store: HealthStore.create({ db }),
    };
  }

  async function addPlugin(
    db: Knex,
    pluginId: string,
    probes: ProbeDefinition[],
    ports: number[],
    tenant = 'team-a',
  ) {
    const plugins = PluginStore.create({ db });
    const instances = InstanceStore.create({ db });
    await plugins.create({ id: pluginId, tenant, runtime: 'external' });
    await plugins.change(pluginId, () => ({ probes }));
    const ids: string[] = [];
    for (const [i, port] of ports.entries()) {
      const id = `${pluginId}-${i + 1}`;
      ids.push(id);
      await instances.insert({
        id,
        pluginId,
        version: '1.0.0',
        track: 'stable',
        runtime: 'external',
        host: '127.0.0.1',
        port,
        protocol: 'http',
        status: 'running',
        owner: 'replica-x',
      });
    }
    return ids;
  }

  function createMonitor(
    db: Knex,
    overrides: Partial<HealthMonitorOptions> = {},
  ) {
    const events = new SystemEvents();
    const verdicts: HealthVerdictChange[] = [];
    const actions: RemediationAction[] = [];
    const suppressed: unknown[] = [];
    events.on('healthMonitor:verdictChanged', change => verdicts.push(change));
    events.on('healthMonitor:remediationSuppressed', s => suppressed.push(s));
    const monitor = HealthMonitor.create({
      db,
      logger: mockServices.logger.mock(),
      events,
      replicaId: 'replica-a',
      heartbeatIntervalMs: 100,
      replicaTimeoutMs: 1_000,
      targetRefreshIntervalMs: 100,
      flushIntervalMs: 50,
      feedIntervalMs: 50,
      restartBackoff: { baseMs: 20, maxMs: 200 },
      remediation: async action => {
        actions.push(action);
      },
      ...overrides,
    });
    monitors.push(monitor);
    const latest = (targetId: string) =>
      [...verdicts].reverse().find(v => v.targetId === targetId);
    return { monitor, events, verdicts, actions, suppressed, latest };
  }

  it('reports no ghosts: a gone instance leaves the answer, and a running plugin with none serving is down', async () => {
    const { db, store, plugins, instances } = await setup();
    const [id] = await addPlugin(
      db,
      'ghosty',
      [http('ready', 'readiness', '/ready')],
      [servers[0].port],
    );
    await db('plugins').where({ id: 'ghosty' }).update({ state: 'running' });
    const { monitor, latest } = createMonitor(db);
    await monitor.start();
    await waitFor(() => latest(id)?.verdict === 'healthy', 'a healthy verdict');
    await monitor.flush();
    expect((await store.getStatuses({ pluginId: 'ghosty' })).length).toBe(1);
    expect((await monitor.getPluginHealth('ghosty')).verdict).toBe('healthy');

    // The instance ends (a stop, or an earlier backend run): its rows stay
    // as history, but the plugin has no instance left.
    await instances.setStatus(id, 'stopped');
    await monitor.refresh();
    const gone = await monitor.getPluginHealth('ghosty');
    expect(gone).toMatchObject({ verdict: 'down', instances: [] });
    expect((await plugins.get('ghosty'))?.state).toBe('running');

    // A new instance the monitor has not picked up yet: too early to say.
    await instances.insert({
      id: 'ghosty-new',
      pluginId: 'ghosty',
      version: '1.0.0',
      track: 'stable',
      runtime: 'external',
      host: '127.0.0.1',
      port: servers[1].port,
      protocol: 'http',
      owner: 'replica-a',
      status: 'running',
    });
    expect((await monitor.getPluginHealth('ghosty')).verdict).toBe('starting');
    await instances.setStatus('ghosty-new', 'stopped');
    await monitor.refresh();

    await db('plugins').where({ id: 'ghosty' }).update({ state: 'installed' });
    expect((await monitor.getPluginHealth('ghosty')).verdict).toBe('unknown');
  });

  it('probes running instances and reports their health', async () => {
    const { db, store } = await setup();
    const [id] = await addPlugin(
      db,
      'sample',
      [
        http('ready', 'readiness', '/ready'),
        http('alive', 'liveness', '/alive'),
      ],
      [servers[0].port],
    );
    const { monitor, latest } = createMonitor(db);
    await monitor.start();

    const change = await waitFor(
      () => latest(id)?.verdict === 'healthy' && latest(id),
      'a healthy verdict',
    );
    expect(change).toEqual({
      targetId: id,
      pluginId: 'sample',
      instanceId: id,
      ready: true,
      live: true,
      verdict: 'healthy',
      healthScore: 1,
      previous: expect.any(String),
      reasons: [],
      reportedBy: 'replica-a',
    });
    await waitFor(
      () => (servers[0].hits.get('/ready') ?? 0) >= 5,
      'some readiness probes',
    );
    await monitor.flush();

    const rows = await store.getStatuses({ pluginId: 'sample' });
    expect(
      rows.map(r => [r.probeName, r.status, r.verdict, r.reportedBy]),
    ).toEqual([
      ['alive', 'passing', 'healthy', 'replica-a'],
      ['ready', 'passing', 'healthy', 'replica-a'],
    ]);
    const health = await monitor.getPluginHealth('sample');
    expect(health).toMatchObject({
      pluginId: 'sample',
      verdict: 'healthy',
      counts: { healthy: 1 },
      instances: [
        {
          targetId: id,
          instanceId: id,
          host: '127.0.0.1',
          port: servers[0].port,
          verdict: 'healthy',
          healthScore: 1,
          ready: true,
          live: true,
          reportedBy: 'replica-a',
        },
      ],
    });
    const ready = health.instances[0].probes.find(p => p.name === 'ready')!;
    expect(ready).toMatchObject({
      type: 'readiness',
      method: 'http',
      status: 'passing',
      lastOk: true,
      lastMessage: 'GET /ready answered 200',
      successRate: 1,
      held: false,
      checkedBy: 'replica-a',
      trend: { degrading: false, flapping: false },
    });
    expect(ready.lastLatencyMs).toEqual(expect.any(Number));
    expect(ready.trend.latencyMs).toEqual(expect.any(Number));
    expect(ready.recent[0]).toMatchObject({ ok: true });
    expect(monitor.stats()).toMatchObject({
      replicas: ['replica-a'],
      targets: 1,
      assignedTargets: 1,
    });
  });

  it('holds readiness and liveness until the startup probe passes', async () => {
    const { db } = await setup();
    const server = servers[1];
    server.status.set('/started', 503);
    const [id] = await addPlugin(
      db,
      'slow',
      [
        http('boot', 'startup', '/started', { failureThreshold: 1000 }),
        http('ready', 'readiness', '/ready'),
        http('alive', 'liveness', '/alive'),
      ],
      [server.port],
    );
    const { monitor, latest, actions } = createMonitor(db);
    await monitor.start();

    await waitFor(
      () => (server.hits.get('/started') ?? 0) >= 5,
      'startup probes',
    );
    expect(server.hits.get('/ready')).toBeUndefined();
    expect(server.hits.get('/alive')).toBeUndefined();
    expect(latest(id)?.verdict).toBe('starting');
    const starting = await monitor.getPluginHealth('slow');
    expect(
      starting.instances[0].probes.map(p => [p.name, p.status, p.held]),
    ).toEqual([
      ['boot', 'unknown', false],
      ['ready', 'unknown', true],
      ['alive', 'unknown', true],
    ]);

    server.status.set('/started', 200);
    await waitFor(() => latest(id)?.verdict === 'healthy', 'healthy');
    const startupHits = server.hits.get('/started');
    await waitFor(
      () => (server.hits.get('/ready') ?? 0) >= 10,
      'readiness probes',
    );
    // A startup probe that passed is not run again.
    expect(server.hits.get('/started')).toBe(startupHits);
    expect(actions).toEqual([]);
  });

  it('takes an instance that stops being ready out of rotation, and back', async () => {
    const { db } = await setup();
    const server = servers[2];
    const [id] = await addPlugin(
      db,
      'flaky',
      [http('ready', 'readiness', '/ready')],
      [server.port],
    );
    const { monitor, latest, actions } = createMonitor(db);
    await monitor.start();
    await waitFor(() => latest(id)?.verdict === 'healthy', 'healthy');

    server.status.set('/ready', 503);
    await waitFor(() => latest(id)?.ready === false, 'not ready');
    expect(latest(id)).toMatchObject({
      verdict: 'unhealthy',
      healthScore: 0,
      live: true,
      reasons: [
        "readiness probe 'ready': GET /ready answered 503, expected 200-399 (failing)",
      ],
    });
    await waitFor(() => actions.length === 1, 'out of rotation');

    server.status.set('/ready', 200);
    await waitFor(() => latest(id)?.ready === true, 'ready again');
    await waitFor(() => actions.length === 2, 'into rotation');
    expect(actions).toEqual([
      {
        type: 'out-of-rotation',
        pluginId: 'flaky',
        instanceId: id,
        targetId: id,
        reason:
          "readiness probe 'ready': GET /ready answered 503, expected 200-399 (failing)",
      },
      {
        type: 'into-rotation',
        pluginId: 'flaky',
        instanceId: id,
        targetId: id,
        reason: 'ready again',
      },
    ]);
  });

  it('restarts an instance whose liveness fails, backing off, up to the rate limit', async () => {
    const { db } = await setup();
    const server = servers[3];
    const [id] = await addPlugin(
      db,
      'crashy',
      [http('alive', 'liveness', '/alive')],
      [server.port],
    );
    const { monitor, latest, actions, suppressed } = createMonitor(db, {
      remediationPolicies: { crashy: { maxPerHour: 3 } },
    });
    await monitor.start();
    await waitFor(() => latest(id)?.verdict === 'healthy', 'healthy');

    server.status.set('/alive', 500);
    await waitFor(() => suppressed.length === 1, 'a suppressed restart');
    expect(latest(id)).toMatchObject({ verdict: 'unhealthy', live: false });
    expect(actions.map(a => [a.type, a.attempt])).toEqual([
      ['restart', 1],
      ['restart', 2],
      ['restart', 3],
    ]);
    expect(suppressed).toEqual([
      expect.objectContaining({
        type: 'restart',
        attempt: 4,
        suppressedBecause:
          "rate limit: 3 remediations of plugin 'crashy' per hour",
      }),
    ]);
  });

  it('follows the remediation policy of each plugin', async () => {
    const { db } = await setup();
    const server = servers[4];
    server.status.set('/alive', 500);
    const [id] = await addPlugin(
      db,
      'marked',
      [http('alive', 'liveness', '/alive')],
      [server.port],
    );
    const { monitor, actions, latest } = createMonitor(db, {
      remediationPolicies: {
        '*': { onLivenessFailure: 'none' },
        marked: { onLivenessFailure: 'mark-error' },
      },
    });
    await monitor.start();
    await waitFor(() => actions.length === 1, 'a remediation');
    await waitFor(
      () => (server.hits.get('/alive') ?? 0) >= 20,
      'more liveness probes',
    );
    expect(actions).toEqual([
      expect.objectContaining({
        type: 'mark-error',
        pluginId: 'marked',
        instanceId: id,
        failure: 'liveness',
      }),
    ]);
    expect(latest(id)?.verdict).toBe('unhealthy');
  });

  it('stores probes registered for a plugin and uses them at once', async () => {
    const { db, plugins } = await setup();
    const server = servers[5];
    const [id] = await addPlugin(db, 'later', [], [server.port]);
    const { monitor, latest } = createMonitor(db, {
      targetRefreshIntervalMs: 3_600_000,
    });
    await monitor.start();
    const bare = await monitor.getPluginHealth('later');
    // Nothing checks it: it takes traffic, but its health is unknown.
    expect(bare.verdict).toBe('unknown');
    expect(bare.instances).toEqual([
      expect.objectContaining({
        targetId: id,
        verdict: 'unknown',
        ready: true,
        reasons: ['no probes defined: nothing checks this instance'],
        probes: [],
      }),
    ]);

    const probes = [http('ready', 'readiness', '/ready')];
    await expect(
      monitor.registerPluginProbes('later', probes),
    ).resolves.toEqual(probes);
    expect((await plugins.get('later'))?.probes).toEqual(probes);
    await waitFor(() => latest(id)?.verdict === 'healthy', 'probed at once');
    expect(server.hits.get('/ready')).toBeGreaterThan(0);

    await expect(
      monitor.registerPluginProbes('later', [
        { name: 'x', type: 'readiness', method: 'grpc' } as ProbeDefinition,
      ]),
    ).rejects.toThrow(
      new InputError(
        'Invalid probes: 0.grpc: a grpc probe needs its "grpc" settings',
      ),
    );
    await expect(
      monitor.registerPluginProbes('later', [probes[0], probes[0]]),
    ).rejects.toThrow("two probes are named 'ready'");
    await expect(
      monitor.registerPluginProbes('missing', probes),
    ).rejects.toThrow(NotFoundError);
    await expect(
      monitor.registerPluginProbes('later', probes, {
        scope: { tenants: ['team-b'] },
      }),
    ).rejects.toThrow(NotFoundError);
    await expect(
      monitor.getPluginHealth('later', { scope: { tenants: ['team-b'] } }),
    ).rejects.toThrow("No plugin with id 'later'");
  });

  it('opens the circuit of a failing probe and stops running it', async () => {
    const { db } = await setup();
    const server = servers[0];
    server.status.set('/broken', 500);
    const [id] = await addPlugin(
      db,
      'breaker',
      [
        http('ready', 'readiness', '/ready'),
        http('deep', 'readiness', '/broken', {
          circuitBreaker: {
            enabled: true,
            failureThreshold: 3,
            recoveryTimeout: 600_000,
          },
        }),
      ],
      [server.port],
    );
    const { monitor } = createMonitor(db);
    await monitor.start();

    const circuit = async () =>
      (await monitor.getPluginHealth('breaker')).instances[0].probes.find(
        p => p.name === 'deep',
      )?.circuit;
    await waitFor(async () => (await circuit()) === 'open', 'an open circuit');
    const broken = server.hits.get('/broken');
    expect(broken).toBe(3);
    // Many more periods pass (the other probe keeps running)...
    const ready = server.hits.get('/ready') ?? 0;
    await waitFor(
      () => (server.hits.get('/ready') ?? 0) >= ready + 20,
      'more periods',
    );
    // ...without another run of the broken probe.
    expect(server.hits.get('/broken')).toBe(broken);
    const health = await monitor.getPluginHealth('breaker');
    expect(health.instances[0]).toMatchObject({
      targetId: id,
      verdict: 'unhealthy',
      ready: false,
    });
  });

  it('announces healthCheckFailed once per failing streak of a probe', async () => {
    const { db } = await setup();
    const server = servers[2];
    server.status.set('/flaky', 503);
    await addPlugin(
      db,
      'streaks',
      [http('flaky', 'readiness', '/flaky')],
      [server.port],
    );
    const { monitor, events } = createMonitor(db);
    const failures: HealthCheckFailure[] = [];
    events.on('healthMonitor:healthCheckFailed', f => failures.push(f));
    await monitor.start();
    await waitFor(() => failures.length === 1, 'a failed check');
    expect(failures[0]).toMatchObject({
      pluginId: 'streaks',
      instanceId: 'streaks-1',
      probeName: 'flaky',
      probeType: 'readiness',
      method: 'http',
      consecutiveFailures: 2,
      failureThreshold: 2,
      message: expect.stringContaining('503'),
      reportedBy: 'replica-a',
    });
    // Failing on: no further event.
    const hits = server.hits.get('/flaky') ?? 0;
    await waitFor(
      () => (server.hits.get('/flaky') ?? 0) >= hits + 5,
      'more failed runs',
    );
    expect(failures).toHaveLength(1);
    // Passing, then failing again: a second streak, a second event.
    server.status.set('/flaky', 200);
    await waitFor(
      async () =>
        (
          await monitor.getPluginHealth('streaks')
        ).instances[0]?.probes[0]?.status === 'passing',
      'the probe to pass',
    );
    server.status.set('/flaky', 500);
    await waitFor(() => failures.length === 2, 'a second failed check');
  });

  it('gives probes the configured defaults and ignores breakers when told to', async () => {
    const { db } = await setup();
    const server = servers[3];
    server.status.set('/down', 500);
    await addPlugin(
      db,
      'defaults',
      [
        {
          name: 'down',
          type: 'readiness',
          method: 'http',
          http: { path: '/down' },
          periodSeconds: 0.02,
          circuitBreaker: {
            enabled: true,
            failureThreshold: 1,
            recoveryTimeout: 600_000,
          },
        },
      ],
      [server.port],
    );
    const { monitor, events } = createMonitor(db, {
      probeDefaults: { failureThreshold: 4 },
      circuitBreakers: false,
    });
    const failures: HealthCheckFailure[] = [];
    events.on('healthMonitor:healthCheckFailed', f => failures.push(f));
    await monitor.start();
    await waitFor(() => failures.length === 1, 'a failed check');
    expect(failures[0]).toMatchObject({
      consecutiveFailures: 4,
      failureThreshold: 4,
    });
    // The breaker (one failure opens it) is not honoured: runs go on.
    const hits = server.hits.get('/down') ?? 0;
    await waitFor(
      () => (server.hits.get('/down') ?? 0) >= hits + 5,
      'more runs',
    );
    const [probe] = (await monitor.getPluginHealth('defaults')).instances[0]
      .probes;
    expect(probe.circuit).toBeUndefined();
  });

  it('probes targets added in process and forgets removed ones', async () => {
    const { db, store } = await setup();
    const { monitor, latest } = createMonitor(db);
    await monitor.start();
    await monitor.addTargets([
      {
        id: 'external-db',
        pluginId: 'external',
        host: '127.0.0.1',
        port: servers[1].port,
        probes: [{ name: 'port', type: 'readiness', method: 'tcp', ...FAST }],
      },
    ]);
    await waitFor(
      () => latest('external-db')?.verdict === 'healthy',
      'a healthy target',
    );
    await monitor.flush();
    expect(await store.getStatuses({ targetIds: ['external-db'] })).toEqual([
      expect.objectContaining({ probeName: 'port', status: 'passing' }),
    ]);
    await expect(monitor.getPluginHealth('external')).resolves.toMatchObject({
      verdict: 'healthy',
    });

    await monitor.removeTargets(['external-db']);
    await monitor.flush();
    expect(await store.getStatuses({ targetIds: ['external-db'] })).toEqual([]);
    await expect(
      monitor.addTargets([
        { id: 'bad', pluginId: 'x', host: 'h', port: 0, probes: [] },
      ]),
    ).rejects.toThrow("Health target 'bad' has an invalid port 0");
  });

  describe.each(databases.eachSupportedId())(
    'with replicas on %s',
    databaseId => {
      it('probes each target on one replica, shares results, and hands targets over', async () => {
        const { db, store } = await setup(databaseId);
        const ids = await addPlugin(
          db,
          'shared',
          [http('ready', 'readiness', '/ready')],
          servers.map(s => s.port),
        );
        const a = createMonitor(db, { replicaId: 'replica-a' });
        const b = createMonitor(db, { replicaId: 'replica-b' });
        await a.monitor.start();
        await b.monitor.start();
        await waitFor(
          () =>
            a.monitor.stats().replicas.length === 2 &&
            b.monitor.stats().replicas.length === 2,
          'both replicas to see each other',
        );
        const owner = new RendezvousAssigner(['replica-a', 'replica-b']);
        const ofA = ids.filter(id => owner.owner(id) === 'replica-a');
        const ofB = ids.filter(id => owner.owner(id) === 'replica-b');
        await waitFor(
          () =>
            a.monitor.stats().assignedTargets === ofA.length &&
            b.monitor.stats().assignedTargets === ofB.length,
          'the targets divided',
        );

        // Every replica sees every verdict: its own, and the other's by the
        // feed (after a moment in which a replica that gave a target away
        // still shows what it saw itself).
        for (const id of ids) {
          const reporter = owner.owner(id);
          for (const replica of [a, b]) {
            await waitFor(() => {
              const health = replica.monitor.getInstanceHealth(id);
              return (
                health?.verdict === 'healthy' && health.reportedBy === reporter
              );
            }, `${id} healthy by ${reporter} on ${replica.monitor.replicaId}`);
          }
        }
        for (const id of ofA) {
          expect(b.latest(id)).toMatchObject({
            verdict: 'healthy',
            reportedBy: 'replica-a',
          });
        }
        const health = await b.monitor.getPluginHealth('shared');
        expect(
          Object.fromEntries(
            health.instances.map(i => [i.targetId, i.reportedBy]),
          ),
        ).toEqual(Object.fromEntries(ids.map(id => [id, owner.owner(id)])));

        // A replica that stops hands its targets over at once.
        await a.monitor.stop();
        await waitFor(
          () => b.monitor.stats().assignedTargets === ids.length,
          'replica-b to take every target',
        );
        const after = await b.monitor.getPluginHealth('shared');
        expect(after.instances.map(i => i.reportedBy)).toEqual(
          ids.map(() => 'replica-b'),
        );
        // The hand-over changed no verdict.
        expect(after.counts).toEqual({ healthy: ids.length });
        // The new owner rewrites the rows at once: every replica sees who
        // probes each target now.
        await waitFor(
          async () =>
            (
              await store.getStatuses({ pluginId: 'shared' })
            ).every(
              r => r.reportedBy === 'replica-b' && r.verdict === 'healthy',
            ),
          'the rows rewritten by replica-b',
        );
      });

      it('moves the targets of a replica whose heartbeat stops', async () => {
        const { db, store } = await setup(databaseId);
        const ids = await addPlugin(
          db,
          'orphaned',
          [http('ready', 'readiness', '/ready')],
          servers.map(s => s.port),
        );
        // A replica that heartbeat once, then died without leaving; one that
        // the hash gives some of the targets.
        const orphansOf = (ghost: string) => {
          const owner = new RendezvousAssigner(['replica-a', ghost]);
          return ids.filter(id => owner.owner(id) === ghost);
        };
        const ghost = Array.from(
          { length: 100 },
          (_, i) => `replica-ghost-${i}`,
        ).find(g => {
          const count = orphansOf(g).length;
          return count > 0 && count < ids.length;
        })!;
        const orphans = orphansOf(ghost);
        await store.heartbeat(ghost, Date.now());

        const a = createMonitor(db, { replicaId: 'replica-a' });
        await a.monitor.start();
        expect(a.monitor.stats()).toMatchObject({
          replicas: ['replica-a', ghost],
          assignedTargets: ids.length - orphans.length,
        });
        await waitFor(
          () => a.monitor.stats().assignedTargets === ids.length,
          'the orphans adopted',
        );
        expect(a.monitor.stats().replicas).toEqual(['replica-a']);
        for (const id of orphans) {
          await waitFor(
            () => a.latest(id)?.verdict === 'healthy',
            `${id} probed`,
          );
        }
      });
    },
  );
});
