import { mockServices } from '@backstage/backend-test-utils';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
} from '@backstage/errors';
import { Knex } from 'knex';
import { createTestDatabases } from '../../__testUtils__/databases';
import { InstanceStore } from '../../database/InstanceStore';
import { applyDatabaseMigrations } from '../../database/migrations';
import { PluginStore } from '../../database/PluginStore';
import { ReservedServiceNames } from './ReservedServiceNames';
import { SystemEvents } from '../../events/SystemEvents';
import { ALL_TENANTS } from '../../domain/tenancy';
import { ServiceDiscovery, ServiceDiscoveryOptions } from './ServiceDiscovery';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const T0 = Date.parse('2026-11-27T10:00:00.000Z');
const scope = ALL_TENANTS;

/** Waits for something another replica does; never asserts on how long it took. */
async function eventually<T>(fn: () => T | undefined): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const value = fn();
    if (value !== undefined) return value;
    await new Promise(r => setTimeout(r, 25));
  }
  throw new Error('condition not met');
}

function attempt<T>(fn: () => T): T | Error {
  try {
    return fn();
  } catch (error) {
    return error as Error;
  }
}

describe.each(databases.eachSupportedId())(
  'ServiceDiscovery on %s',
  databaseId => {
    let knex: Knex;
    let now: number;
    const started: ServiceDiscovery[] = [];

    async function createDiscovery(
      options: Partial<ServiceDiscoveryOptions> = {},
    ) {
      const discovery = ServiceDiscovery.create({
        db: knex,
        logger: mockServices.logger.mock(),
        pollIntervalMs: 60_000,
        expireIntervalMs: 0,
        clock: () => now,
        ...options,
      });
      await discovery.start();
      started.push(discovery);
      return discovery;
    }

    beforeEach(async () => {
      now = T0;
      knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
    });

    afterEach(async () => {
      for (const discovery of started.splice(0)) await discovery.stop();
      // Each test has a database of its own: its connections go with it, or
      // the file's tests together outgrow PostgreSQL's max_connections.
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

    const pickIds = (
      discovery: ServiceDiscovery,
      count: number,
      name = 'billing',
    ) =>
      Array.from(
        { length: count },
        () => discovery.pickInstance(name, {}, { scope }).serviceId,
      );

    it('registers many services at once, all or none, and another replica sees them', async () => {
      const discovery = await createDiscovery();
      const other = await createDiscovery({ pollIntervalMs: 20 });
      await register(discovery, 'existing', { serviceName: 'orders' });
      const registered = await discovery.registerServices(
        [
          {
            serviceId: 'bulk-1',
            serviceName: 'orders',
            host: '10.0.0.2',
            port: 81,
          },
          {
            serviceId: 'bulk-2',
            serviceName: 'orders',
            host: '10.0.0.3',
            port: 82,
          },
          {
            serviceId: 'bulk-3',
            serviceName: 'billing',
            host: '10.0.0.4',
            port: 83,
            ttlMs: 5_000,
          },
        ],
        { scope },
      );
      expect(
        registered.map(r => [r.serviceId, r.serviceName, r.ready]),
      ).toEqual([
        ['bulk-1', 'orders', true],
        ['bulk-2', 'orders', true],
        ['bulk-3', 'billing', true],
      ]);
      expect(pickIds(discovery, 3, 'orders').sort()).toEqual([
        'bulk-1',
        'bulk-2',
        'existing',
      ]);
      await eventually(() =>
        other.routingTable(scope).pools.find(p => p.serviceName === 'orders')
          ?.instances.length === 3
          ? true
          : undefined,
      );

      // A re-registration keeps its verdict; a bad entry stores nothing.
      await discovery.setInstanceHealth('bulk-1', { ready: false });
      const bad = await discovery
        .registerServices(
          [
            {
              serviceId: 'bulk-1',
              serviceName: 'orders',
              host: '10.0.0.2',
              port: 91,
            },
            {
              serviceId: 'bulk-4',
              serviceName: 'orders',
              host: '10.0.0.5',
              port: 0,
            },
          ],
          { scope },
        )
        .catch(e => e);
      expect(bad).toBeInstanceOf(InputError);
      expect(bad.message).toMatch(/^Invalid service registrations: 1\.port/);
      const twice = await discovery
        .registerServices(
          [
            { serviceId: 'x', serviceName: 'orders', host: 'h', port: 1 },
            { serviceId: 'x', serviceName: 'orders', host: 'h', port: 2 },
          ],
          { scope },
        )
        .catch(e => e);
      expect(twice.message).toBe(
        "Invalid service registrations: 1.serviceId: 'x' appears twice",
      );
      const again = await discovery.registerServices(
        [
          {
            serviceId: 'bulk-1',
            serviceName: 'orders',
            host: '10.0.0.2',
            port: 91,
          },
          {
            serviceId: 'bulk-4',
            serviceName: 'orders',
            host: '10.0.0.5',
            port: 84,
          },
        ],
        { scope },
      );
      expect(again.map(r => [r.serviceId, r.port, r.ready])).toEqual([
        ['bulk-1', 91, false],
        ['bulk-4', 84, true],
      ]);
      expect(
        (await discovery.listServices({ scope, name: 'orders' })).map(
          s => s.serviceId,
        ),
      ).toEqual(['bulk-1', 'bulk-2', 'bulk-4', 'existing']);
    });

    it('takes heartbeats in bulk and revives expired services', async () => {
      const discovery = await createDiscovery();
      await discovery.registerServices(
        [
          {
            serviceId: 'h-1',
            serviceName: 'beats',
            host: 'h',
            port: 1,
            ttlMs: 1_000,
          },
          {
            serviceId: 'h-2',
            serviceName: 'beats',
            host: 'h',
            port: 2,
            ttlMs: 1_000,
          },
          {
            serviceId: 'h-3',
            serviceName: 'beats',
            host: 'h',
            port: 3,
            ttlMs: 5_000,
          },
          { serviceId: 'h-4', serviceName: 'beats', host: 'h', port: 4 },
        ],
        { scope },
      );
      now += 900;
      expect(
        await discovery.heartbeats(['h-1', 'h-2', 'h-3', 'h-4', 'nope'], {
          scope,
        }),
      ).toEqual({ renewed: 4, unknown: ['nope'] });
      now += 900; // 1.8 s after registering, 0.9 s after the heartbeat
      await discovery.expire();
      expect(pickIds(discovery, 4, 'beats').sort()).toEqual([
        'h-1',
        'h-2',
        'h-3',
        'h-4',
      ]);
      now += 1_000;
      await discovery.expire();
      expect(pickIds(discovery, 2, 'beats').sort()).toEqual(['h-3', 'h-4']);
      expect(await discovery.heartbeats(['h-1'], { scope })).toEqual({
        renewed: 1,
        unknown: [],
      });
      expect(pickIds(discovery, 3, 'beats').sort()).toEqual([
        'h-1',
        'h-3',
        'h-4',
      ]);
      expect(
        await discovery.heartbeats(['h-1'], {
          scope: { all: false, tenants: ['team-b'] },
        }),
      ).toEqual({ renewed: 0, unknown: ['h-1'] });
      await expect(discovery.heartbeats([], { scope })).rejects.toThrow(
        'Invalid heartbeats: at least one service id',
      );
    });

    it('lists services a page at a time', async () => {
      const discovery = await createDiscovery();
      await discovery.registerServices(
        Array.from({ length: 7 }, (_, i) => ({
          serviceId: `p-${i}`,
          serviceName: i % 2 ? 'odd' : 'even',
          host: 'h',
          port: 1000 + i,
        })),
        { scope },
      );
      const seen: string[] = [];
      let after: Parameters<typeof discovery.listServices>[0]['after'];
      let pages = 0;
      do {
        const page = await discovery.listServices(
          { scope, limit: 3, after },
          true,
        );
        pages++;
        seen.push(...page.items.map(s => s.serviceId));
        after = page.next;
      } while (after && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(['p-0', 'p-2', 'p-4', 'p-6', 'p-1', 'p-3', 'p-5']);
    });

    it('registers services and spreads requests over them', async () => {
      const discovery = await createDiscovery();
      const a = await register(discovery, 'a', {
        version: '1.0.0',
        tags: ['eu'],
        metadata: { zone: 'a' },
        loadBalancing: { weight: 50, maxConnections: 10 },
      });
      expect(a).toEqual({
        serviceId: 'a',
        source: 'registered',
        tenant: 'default',
        serviceName: 'billing',
        serviceType: 'http',
        version: '1.0.0',
        host: '10.0.0.1',
        port: 8080,
        protocol: 'http',
        weight: 50,
        maxConnections: 10,
        tags: ['eu'],
        metadata: { zone: 'a' },
        lastHeartbeatAt: new Date(T0).toISOString(),
        registeredAt: new Date(T0).toISOString(),
        updatedAt: new Date(T0).toISOString(),
        ready: true,
        healthScore: 1,
        expired: false,
        activeConnections: 0,
      });
      await register(discovery, 'b', { port: 8081 });

      expect(pickIds(discovery, 4).sort()).toEqual(['a', 'a', 'b', 'b']);
      const resolved = await discovery.getLoadBalancedService(
        'billing',
        {},
        'weighted-round-robin',
        { scope },
      );
      expect(resolved).toMatchObject({
        serviceName: 'billing',
        url: expect.stringMatching(/^http:\/\/10\.0\.0\.1:808[01]$/),
        strategy: 'weighted-round-robin',
        panic: false,
      });
      expect(
        (await discovery.listServices({ scope, name: 'billing' })).map(
          s => s.serviceId,
        ),
      ).toEqual(['a', 'b']);

      // ip-hash keeps a client on one instance
      const sticky = new Set(
        Array.from(
          { length: 10 },
          () =>
            discovery.pickInstance(
              'billing',
              { ip: '192.0.2.7' },
              { scope, strategy: 'ip-hash' },
            ).serviceId,
        ),
      );
      expect(sticky.size).toBe(1);
    });

    it('answers bad input with clear 400s', async () => {
      const discovery = await createDiscovery();
      const problems = async (input: Record<string, unknown>) => {
        const error = await register(discovery, 'x', input).catch(e => e);
        expect(error).toBeInstanceOf(InputError);
        return error.message;
      };
      expect(
        await problems({ loadBalancing: { weight: -1 } }),
      ).toMatchInlineSnapshot(
        `"Invalid service registration: loadBalancing.weight: must be at least 0 (0 drains the instance)"`,
      );
      expect(
        await problems({ loadBalancing: { strategy: 'random' } }),
      ).toMatchInlineSnapshot(
        `"Invalid service registration: loadBalancing.strategy: must be one of round-robin, weighted-round-robin, least-connections, ip-hash, health-weighted"`,
      );
      expect(await problems({ port: 70000 })).toMatchInlineSnapshot(
        `"Invalid service registration: port: must be from 1 to 65535"`,
      );
      expect(
        await problems({
          healthCheck: { name: 'h', type: 'readiness', method: 'http' },
        }),
      ).toMatchInlineSnapshot(
        `"Invalid service registration: healthCheck.http: a http probe needs its "http" settings"`,
      );
      expect(await problems({ deregisterAfterMs: 5000 })).toMatchInlineSnapshot(
        `"Invalid service registration: deregisterAfterMs: needs ttlMs: it counts from the last heartbeat"`,
      );

      await register(discovery, 'a');
      const unknown = attempt(() =>
        discovery.pickInstance('billing', {}, { scope, strategy: 'random' }),
      );
      expect(unknown).toBeInstanceOf(InputError);
      expect((unknown as Error).message).toMatchInlineSnapshot(
        `"Unknown load balancing strategy "random"; expected one of round-robin, weighted-round-robin, least-connections, ip-hash, health-weighted"`,
      );
      await expect(
        discovery.updateService('a', { weight: -5 }, { scope }),
      ).rejects.toThrow(
        'Invalid service update: weight: must be at least 0 (0 drains the instance)',
      );
      await expect(discovery.updateService('a', {}, { scope })).rejects.toThrow(
        'say what to change: weight and/or maxConnections',
      );
    });

    it('keeps tenants apart', async () => {
      const discovery = await createDiscovery();
      const teamA = { tenants: ['team-a'] };
      const teamB = { tenants: ['team-b'] };
      await discovery.registerService(
        { serviceId: 'a1', serviceName: 'search', host: 'a', port: 1 },
        { scope: teamA },
      );
      await expect(
        discovery.registerService(
          {
            serviceId: 'a2',
            serviceName: 'search',
            host: 'a',
            port: 1,
            tenant: 'team-a',
          },
          { scope: teamB },
        ),
      ).rejects.toThrow(NotAllowedError);

      expect(
        discovery.pickInstance('search', {}, { scope: teamA }).tenant,
      ).toBe('team-a');
      const hidden = attempt(() =>
        discovery.pickInstance('search', {}, { scope: teamB }),
      );
      expect(hidden).toBeInstanceOf(NotFoundError);
      expect((hidden as Error).message).toBe("No service named 'search'");
      expect(await discovery.listServices({ scope: teamB })).toEqual([]);
      await expect(
        discovery.deregisterService('a1', { scope: teamB }),
      ).rejects.toThrow(NotFoundError);
      await expect(discovery.heartbeat('a1', { scope: teamB })).rejects.toThrow(
        NotFoundError,
      );
      await expect(
        discovery.updateService('a1', { weight: 1 }, { scope: teamB }),
      ).rejects.toThrow(NotFoundError);
      // The same id in another tenant is taken.
      await expect(
        discovery.registerService(
          { serviceId: 'a1', serviceName: 'search', host: 'b', port: 1 },
          { scope: teamB },
        ),
      ).rejects.toThrow(
        "Service id 'a1' is not available; register under another id, or leave serviceId out to get a generated one",
      );

      // The same name in two tenants: each sees its own; all-tenant callers say which.
      await discovery.registerService(
        { serviceId: 'b1', serviceName: 'search', host: 'b', port: 1 },
        { scope: teamB },
      );
      expect(
        discovery.pickInstance('search', {}, { scope: teamB }).serviceId,
      ).toBe('b1');
      expect(
        attempt(() => discovery.pickInstance('search', {}, { scope })),
      ).toEqual(
        new InputError(
          "Service 'search' exists in several tenants; say which with tenant",
        ),
      );
      // A caller of both tenants is told its own tenants' names.
      expect(
        attempt(() =>
          discovery.pickInstance(
            'search',
            {},
            { scope: { tenants: ['team-a', 'team-b'] } },
          ),
        ),
      ).toEqual(
        new InputError(
          "Service 'search' exists in tenants team-a, team-b; say which with tenant",
        ),
      );
      expect(
        discovery.pickInstance('search', {}, { scope, tenant: 'team-a' })
          .serviceId,
      ).toBe('a1');
    });

    it("keeps a managed plugin's name for its runtime instances: a registration under it is refused, and one stored before stops serving", async () => {
      const discovery = await createDiscovery({
        reservedNames: ReservedServiceNames.create({
          backstagePlugins: ['catalog'],
        }),
      });
      // Stored before the plugin existed (or before the rule).
      await register(discovery, 'early', { serviceName: 'payments' });
      expect(pickIds(discovery, 1, 'payments')).toEqual(['early']);

      await PluginStore.create({ db: knex }).create({
        id: 'payments',
        tenant: 'team-a',
        runtime: 'process',
      });
      await expect(
        register(discovery, 'hijack', {
          serviceName: 'payments',
          loadBalancing: { weight: 1_000_000 },
        }),
      ).rejects.toThrow(
        "Service name 'payments' is the id of a managed plugin: only the instances the runtime starts for it serve that name; a registration under it is refused",
      );
      await expect(
        register(discovery, 'catalog-1', { serviceName: 'catalog' }),
      ).rejects.toThrow(ConflictError);

      // The next look sees the plugin (in another tenant, too): the early
      // registration leaves its pool.
      await discovery.refresh();
      expect(() => discovery.pickInstance('payments', {}, { scope })).toThrow(
        "Service 'payments' has no instances",
      );
      await expect(discovery.heartbeat('early', { scope })).rejects.toThrow(
        /is the id of a managed plugin.*a heartbeat under it is refused/,
      );
      await expect(discovery.heartbeats(['early'], { scope })).rejects.toThrow(
        ConflictError,
      );
    });

    it("does not tell a caller which tenant another tenant's plugin is in", async () => {
      const discovery = await createDiscovery();
      await PluginStore.create({ db: knex }).create({
        id: 'ledger',
        tenant: 'team-a',
        runtime: 'process',
      });
      const registerAs = (tenants: string[]) =>
        discovery.registerService(
          {
            serviceName: 'ledger-sidecar',
            host: '127.0.0.1',
            port: 1,
            pluginId: 'ledger',
            tenant: 'team-b',
          },
          { scope: { tenants } },
        );
      await expect(registerAs(['team-b'])).rejects.toThrow(
        "Invalid service registration: plugin 'ledger' is not in tenant 'team-b'",
      );
      // A caller of both tenants may be told where it is.
      await expect(registerAs(['team-a', 'team-b'])).rejects.toThrow(
        "plugin 'ledger' belongs to tenant 'team-a', not 'team-b'",
      );
    });

    it('does not let a name squatted under a made-up tenant turn every call into a 400 that names tenants', async () => {
      const discovery = await createDiscovery();
      await discovery.registerService(
        { serviceId: 'real', serviceName: 'catalog', host: 'a', port: 1 },
        { scope },
      );
      // The attacker registers the same name under tenants of its own making.
      for (const tenant of ['zz-junk', 'secret-customer-name']) {
        await discovery.registerService(
          {
            serviceId: `squat-${tenant}`,
            serviceName: 'catalog',
            host: 'evil',
            port: 1,
            tenant,
          },
          { scope },
        );
      }
      // Callers who do not say which get the default tenant's service.
      for (let i = 0; i < 5; i++) {
        expect(discovery.pickInstance('catalog', {}, { scope }).serviceId).toBe(
          'real',
        );
      }
      // Without one in the default tenant: a 400 that names no tenant.
      await discovery.deregisterService('real', { scope });
      const error = attempt(() =>
        discovery.pickInstance('catalog', {}, { scope }),
      );
      expect(error).toEqual(
        new InputError(
          "Service 'catalog' exists in several tenants; say which with tenant",
        ),
      );
      expect((error as Error).message).not.toContain('secret-customer-name');
    });

    it('serves running plugin instances under the plugin id, in the plugin tenant', async () => {
      const plugins = PluginStore.create({ db: knex });
      const instances = InstanceStore.create({ db: knex });
      await plugins.create({
        id: 'sample',
        tenant: 'team-a',
        runtime: 'process',
      });
      await plugins.create({
        id: 'idle',
        tenant: 'team-a',
        runtime: 'process',
      });
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
      const discovery = await createDiscovery();

      expect(pickIds(discovery, 3, 'sample')).toEqual(['i-1', 'i-1', 'i-1']);
      expect(discovery.pickInstance('sample', {}, { scope })).toMatchObject({
        source: 'instance',
        tenant: 'team-a',
        pluginId: 'sample',
        version: '1.0.0',
        track: 'stable',
        url: 'http://127.0.0.1:7001',
      });

      await instances.setStatus('i-2', 'running');
      await discovery.refresh();
      expect(pickIds(discovery, 4, 'sample').sort()).toEqual([
        'i-1',
        'i-1',
        'i-2',
        'i-2',
      ]);

      // Canary weights: a live override of a plugin instance.
      await discovery.updateService('i-2', { weight: 0 }, { scope });
      expect(pickIds(discovery, 3, 'sample')).toEqual(['i-1', 'i-1', 'i-1']);
      await expect(
        discovery.updateService(
          'i-1',
          { weight: 1 },
          { scope: { tenants: ['x'] } },
        ),
      ).rejects.toThrow(NotFoundError);
      await expect(
        discovery.deregisterService('i-1', { scope }),
      ).rejects.toThrow('is a plugin instance');
      await expect(register(discovery, 'i-1')).rejects.toThrow(
        "'i-1' is the id of a plugin instance",
      );

      await instances.setStatus('i-1', 'stopped');
      await instances.setStatus('i-2', 'stopped');
      await discovery.refresh();
      expect(
        attempt(() => discovery.pickInstance('sample', {}, { scope })),
      ).toEqual(
        new ServiceUnavailableError("Service 'sample' has no instances"),
      );
      expect(
        attempt(() => discovery.pickInstance('idle', {}, { scope })),
      ).toBeInstanceOf(ServiceUnavailableError);
      expect(
        attempt(() => discovery.pickInstance('nope', {}, { scope })),
      ).toBeInstanceOf(NotFoundError);
    });

    it('routes only to ready instances, and answers 503 naming the service when none is', async () => {
      const events = new SystemEvents();
      const discovery = await createDiscovery({ events, panicThreshold: 0 });
      await register(discovery, 'a');
      await register(discovery, 'b');

      await discovery.setInstanceHealth('a', { ready: false });
      expect(pickIds(discovery, 3)).toEqual(['b', 'b', 'b']);
      expect(
        (await discovery.listServices({ scope })).map(s => [
          s.serviceId,
          s.ready,
        ]),
      ).toEqual([
        ['a', false],
        ['b', true],
      ]);

      await discovery.setInstanceHealth('b', { ready: false, healthScore: 0 });
      await eventually(() =>
        attempt(() =>
          discovery.pickInstance('billing', {}, { scope }),
        ) instanceof ServiceUnavailableError
          ? true
          : undefined,
      );
      const error = attempt(() =>
        discovery.pickInstance('billing', {}, { scope }),
      );
      expect(error).toEqual(
        new ServiceUnavailableError(
          "Service 'billing' has no ready instance (2 known, none ready)",
        ),
      );
      expect((error as Error).name).toBe('ServiceUnavailableError');

      await discovery.setInstanceHealth('a', { ready: true, healthScore: 0.5 });
      expect(pickIds(discovery, 2)).toEqual(['a', 'a']);
      await expect(
        discovery.setInstanceHealth('a', { healthScore: 2 }),
      ).rejects.toThrow('healthScore must be a number from 0 to 1, got 2');
      await expect(
        discovery.setInstanceHealth('zzz', { ready: true }),
      ).rejects.toThrow(NotFoundError);
    });

    it('uses panic routing when too few instances are eligible but some are ready', async () => {
      const discovery = await createDiscovery({
        panicThreshold: 0.5,
        ejection: { consecutiveFailures: 1, baseEjectionMs: 1000 },
      });
      for (const id of ['a', 'b', 'c']) await register(discovery, id);
      discovery.reportOutcome('a', { ok: false });
      discovery.reportOutcome('b', { ok: false });
      const picked = discovery.pickInstance('billing', {}, { scope });
      expect(picked.panic).toBe(true);
      now += 1000;
      expect(discovery.pickInstance('billing', {}, { scope }).panic).toBe(
        false,
      );
    });

    it('ejects outliers for a time that grows with each ejection', async () => {
      const discovery = await createDiscovery({
        panicThreshold: 0,
        ejection: {
          consecutiveFailures: 3,
          baseEjectionMs: 10_000,
          maxEjectionMs: 25_000,
        },
      });
      await register(discovery, 'a');
      await register(discovery, 'b');
      const fail = (n: number) => {
        for (let i = 0; i < n; i++) {
          discovery.reportOutcome('a', { ok: false, status: 502 });
        }
      };

      fail(2);
      discovery.reportOutcome('a', { ok: true, status: 200 }); // resets the streak
      fail(2);
      expect(pickIds(discovery, 4).sort()).toEqual(['a', 'a', 'b', 'b']);
      fail(1);
      expect(pickIds(discovery, 3)).toEqual(['b', 'b', 'b']);
      const listed = await discovery.listServices({ scope });
      expect(listed[0].ejectedUntil).toBe(new Date(now + 10_000).toISOString());

      now += 10_000;
      expect(pickIds(discovery, 4).sort()).toEqual(['a', 'a', 'b', 'b']);
      fail(3); // second ejection: 20 s
      now += 19_999;
      expect(pickIds(discovery, 2)).toEqual(['b', 'b']);
      now += 1;
      fail(3); // third: 40 s, capped at 25 s
      now += 24_999;
      expect(pickIds(discovery, 2)).toEqual(['b', 'b']);
      now += 1;
      expect(pickIds(discovery, 4).sort()).toEqual(['a', 'a', 'b', 'b']);

      discovery.reportOutcome('b', { ok: false });
      discovery.reportOutcome('b', { ok: false });
      discovery.reportOutcome('b', { ok: false });
      discovery.reportOutcome('a', { ok: false });
      discovery.reportOutcome('a', { ok: false });
      discovery.reportOutcome('a', { ok: false });
      expect(
        attempt(() => discovery.pickInstance('billing', {}, { scope })),
      ).toEqual(
        new ServiceUnavailableError(
          "Service 'billing' is unavailable: every ready instance is ejected after failures or at capacity",
        ),
      );
    });

    it('gives a data plane of its own the routable instances and says when routing changes', async () => {
      const discovery = await createDiscovery({
        ejection: { consecutiveFailures: 1, baseEjectionMs: 10_000 },
      });
      let changes = 0;
      const stop = discovery.onRoutingChange(() => changes++);
      await register(discovery, 'a', { loadBalancing: { maxConnections: 2 } });
      await register(discovery, 'b', {
        port: 8081,
        loadBalancing: { weight: 3, strategy: 'weighted-round-robin' },
      });
      await register(discovery, 'c', { serviceName: 'idle', port: 9000 });
      await register(discovery, 'd', {
        port: 8082,
        loadBalancing: { weight: 0 },
      });
      await discovery.setInstanceHealth('c', { ready: false });
      expect(changes).toBeGreaterThanOrEqual(5);

      const routed = () =>
        discovery
          .routingTable(scope)
          .pools.find(p => p.serviceName === 'billing')!;
      expect(routed()).toMatchObject({
        tenant: 'default',
        strategy: 'weighted-round-robin',
      });
      // Drained d is left out; connection limits go to the data plane.
      expect(
        routed().instances.map(i => [
          i.resolved.serviceId,
          i.resolved.url,
          i.weight,
          i.maxConnections,
        ]),
      ).toEqual([
        ['a', 'http://10.0.0.1:8080', 100, 2],
        ['b', 'http://10.0.0.1:8081', 3, undefined],
      ]);
      expect(
        discovery.routingTable(scope).pools.find(p => p.serviceName === 'idle'),
      ).toMatchObject({
        instances: [],
        unavailable:
          "Service 'idle' has no ready instance (1 known, none ready)",
      });

      // An ejection is this replica's passive view: the data plane ejects
      // by itself, so the table and its listeners stay as they are.
      const before = changes;
      discovery.reportOutcome('a', { ok: false });
      expect(pickIds(discovery, 2)).toEqual(['b', 'b']);
      expect(routed().instances.map(i => i.resolved.serviceId)).toEqual([
        'a',
        'b',
      ]);
      expect(changes).toBe(before);
      // Other tenants' services are not in a narrower scope.
      expect(discovery.routingTable({ tenants: ['other'] }).pools).toEqual([]);

      stop();
      await register(discovery, 'e', { port: 8083 });
      expect(changes).toBe(before);
    });

    it('expires services that stop heartbeating and removes them later', async () => {
      const discovery = await createDiscovery({ panicThreshold: 0 });
      await register(discovery, 'a', {
        ttlMs: 5_000,
        deregisterAfterMs: 10_000,
      });
      await register(discovery, 'b');

      now += 4_000;
      expect(await discovery.heartbeat('a', { scope })).toEqual({
        serviceId: 'a',
        expiresAt: new Date(now + 5_000).toISOString(),
      });
      now += 5_000;
      expect(await discovery.expire()).toEqual({
        expired: ['a'],
        deregistered: [],
      });
      expect(pickIds(discovery, 2)).toEqual(['b', 'b']);
      expect(
        (await discovery.listServices({ scope })).find(s => s.serviceId === 'a')
          ?.expired,
      ).toBe(true);

      await discovery.heartbeat('a', { scope });
      expect(pickIds(discovery, 2).sort()).toEqual(['a', 'b']);

      now += 10_000;
      expect(await discovery.expire()).toEqual({
        expired: [],
        deregistered: ['a'],
      });
      expect(
        (await discovery.listServices({ scope })).map(s => s.serviceId),
      ).toEqual(['b']);
      await expect(discovery.heartbeat('a', { scope })).rejects.toThrow(
        "No service 'a'",
      );
    });

    it('changes weights and connection limits live', async () => {
      const discovery = await createDiscovery({ panicThreshold: 0 });
      await register(discovery, 'a');
      await register(discovery, 'b');
      await discovery.updateService('a', { weight: 0 }, { scope });
      expect(pickIds(discovery, 3)).toEqual(['b', 'b', 'b']);
      await discovery.updateService('a', { weight: 100 }, { scope });

      await discovery.updateService('a', { maxConnections: 1 }, { scope });
      const updated = await discovery.updateService(
        'b',
        { maxConnections: 1 },
        { scope },
      );
      expect(updated.maxConnections).toBe(1);
      discovery.connectionOpened('a');
      expect(pickIds(discovery, 2)).toEqual(['b', 'b']);
      discovery.connectionOpened('b');
      expect(
        attempt(() => discovery.pickInstance('billing', {}, { scope })),
      ).toEqual(
        new ServiceUnavailableError(
          "Service 'billing' is at capacity: every ready instance has reached its maxConnections",
        ),
      );
      discovery.connectionClosed('a');
      expect(pickIds(discovery, 2)).toEqual(['a', 'a']);
      const cleared = await discovery.updateService(
        'b',
        { maxConnections: null },
        { scope },
      );
      expect(cleared.maxConnections).toBeUndefined();
      expect(cleared.activeConnections).toBe(1);
      expect(pickIds(discovery, 2).sort()).toEqual(['a', 'b']);
    });

    it('uses the strategy a service registered, and excludes instances already tried', async () => {
      const discovery = await createDiscovery();
      await register(discovery, 'a', {
        loadBalancing: { strategy: 'least-connections' },
      });
      await register(discovery, 'b');
      discovery.connectionOpened('a');
      expect(discovery.pickInstance('billing', {}, { scope })).toMatchObject({
        serviceId: 'b',
        strategy: 'least-connections',
      });
      expect(
        discovery.pickInstance(
          'billing',
          { ip: '192.0.2.1' },
          { scope, strategy: 'ip-hash', exclude: new Set(['a']) },
        ).serviceId,
      ).toBe('b');
      expect(
        discovery.pickInstance(
          'billing',
          { ip: '192.0.2.1' },
          { scope, strategy: 'ip-hash', exclude: new Set(['b']) },
        ).serviceId,
      ).toBe('a');
      expect(
        attempt(() =>
          discovery.pickInstance(
            'billing',
            {},
            { scope, exclude: new Set(['a', 'b']) },
          ),
        ),
      ).toEqual(
        new ServiceUnavailableError(
          "Service 'billing' has no other instance to try (tried a, b)",
        ),
      );
    });

    describe('version subsets', () => {
      const registerVersions = async (discovery: ServiceDiscovery) => {
        await register(discovery, 'v1-a', { version: '1.0.0', port: 8081 });
        await register(discovery, 'v1-b', { version: '1.0.0', port: 8082 });
        await register(discovery, 'v2', {
          version: '2.0.0',
          port: 8083,
          metadata: { track: 'canary' },
        });
      };
      const tally = (ids: string[]) =>
        ids.reduce(
          (found, id) => found.set(id, (found.get(id) ?? 0) + 1),
          new Map<string, number>(),
        );

      it('with one subset picks exactly as without subsets', async () => {
        const plain = await createDiscovery();
        const split = await createDiscovery();
        for (const discovery of [plain, split]) {
          await register(discovery, 'a', {
            version: '1.0.0',
            loadBalancing: { weight: 3 },
          });
          await register(discovery, 'b', {
            version: '1.0.0',
            loadBalancing: { weight: 1 },
          });
        }
        await split.refresh();
        await plain.refresh();
        expect(
          split.setSubsetWeights('billing', { 'stable/1.0.0': 100 }, { scope }),
        ).toMatchObject({
          split: true,
          subsets: [{ key: 'stable/1.0.0', weight: 100, instances: 2 }],
        });
        for (const strategy of [
          'round-robin',
          'weighted-round-robin',
          'least-connections',
          'ip-hash',
          'health-weighted',
        ]) {
          const picks = (discovery: ServiceDiscovery) =>
            Array.from(
              { length: 12 },
              (_, i) =>
                discovery.pickInstance(
                  'billing',
                  { ip: `10.1.0.${i}` },
                  { scope, strategy },
                ).serviceId,
            );
          expect(picks(split)).toEqual(picks(plain));
        }
        const routed = (discovery: ServiceDiscovery) =>
          discovery
            .routingTable(scope)
            .pools.map(p => p.instances.map(i => i.resolved.serviceId));
        expect(routed(split)).toEqual(routed(plain));
      });

      it('sends each subset its weight of the picks, and a subset of weight 0 nothing', async () => {
        const discovery = await createDiscovery();
        await registerVersions(discovery);
        discovery.setSubsetWeights(
          'billing',
          { 'stable/1.0.0': 80, 'canary/2.0.0': 20 },
          { scope },
        );
        expect(tally(pickIds(discovery, 100))).toEqual(
          new Map([
            ['v1-a', 40],
            ['v1-b', 40],
            ['v2', 20],
          ]),
        );
        const table = discovery.routingTable(scope).pools[0];
        expect(
          table.subsets?.map(s => [
            s.key,
            s.weight,
            s.instances.map(i => i.resolved.serviceId),
          ]),
        ).toEqual([
          ['canary/2.0.0', 20, ['v2']],
          ['stable/1.0.0', 80, ['v1-a', 'v1-b']],
        ]);

        discovery.setSubsetWeights(
          'billing',
          { 'stable/1.0.0': 1, 'canary/2.0.0': 0 },
          { scope },
        );
        expect(tally(pickIds(discovery, 50)).get('v2')).toBeUndefined();
        expect(
          discovery
            .routingTable(scope)
            .pools[0].instances.map(i => i.resolved.serviceId),
        ).toEqual(['v1-a', 'v1-b']);
        // Subsets the weights do not name get nothing either.
        discovery.setSubsetWeights('billing', { 'canary/2.0.0': 5 }, { scope });
        expect(tally(pickIds(discovery, 10))).toEqual(new Map([['v2', 10]]));
        expect(discovery.getSubsets('billing', { scope }).subsets).toEqual([
          { key: 'canary/2.0.0', weight: 5, instances: 1 },
          { key: 'stable/1.0.0', weight: 0, instances: 2 },
        ]);
      });

      it('goes to another subset of weight above 0 when the chosen one cannot take the request', async () => {
        const discovery = await createDiscovery();
        await registerVersions(discovery);
        discovery.setSubsetWeights(
          'billing',
          { 'stable/1.0.0': 50, 'canary/2.0.0': 50 },
          { scope },
        );
        await discovery.setInstanceHealth('v2', { ready: false });
        expect(tally(pickIds(discovery, 10))).toEqual(
          new Map([
            ['v1-a', 5],
            ['v1-b', 5],
          ]),
        );
        discovery.setSubsetWeights('billing', { 'canary/2.0.0': 1 }, { scope });
        expect(
          attempt(() => discovery.pickInstance('billing', {}, { scope })),
        ).toEqual(
          new ServiceUnavailableError(
            "Service 'billing' has no ready instance with a weight above 0",
          ),
        );
        // Weights that name no subset with an instance say so.
        discovery.setSubsetWeights('billing', { 'canary/3.0.0': 1 }, { scope });
        expect(
          attempt(() => discovery.pickInstance('billing', {}, { scope })),
        ).toEqual(
          new ServiceUnavailableError(
            "Service 'billing' has no instance in a subset with a weight above 0 (subsets: canary/2.0.0=0, canary/3.0.0=1, stable/1.0.0=0)",
          ),
        );
      });

      it('validates weights and names the service by tenant', async () => {
        const discovery = await createDiscovery();
        await registerVersions(discovery);
        expect(
          attempt(() =>
            discovery.setSubsetWeights('billing', { a: -1, b: 1.5 }, { scope }),
          ),
        ).toEqual(
          new InputError(
            'Invalid subset weights: a: Too small: expected number to be >=0; b: must be a whole number',
          ),
        );
        expect(
          attempt(() =>
            discovery.setSubsetWeights('billing', { a: 0 }, { scope }),
          ),
        ).toEqual(
          new InputError(
            'Invalid subset weights: at least one subset needs a weight above 0',
          ),
        );
        expect(
          attempt(() =>
            discovery.setSubsetWeights('nothing', { a: 1 }, { scope }),
          ),
        ).toBeInstanceOf(NotFoundError);
        // {} ends the split.
        discovery.setSubsetWeights('billing', { 'stable/1.0.0': 1 }, { scope });
        expect(discovery.setSubsetWeights('billing', {}, { scope })).toEqual({
          serviceName: 'billing',
          tenant: 'default',
          split: false,
          subsets: [{ key: '*', weight: 100, instances: 3 }],
        });
        expect(tally(pickIds(discovery, 3)).size).toBe(3);
      });
    });

    it('keeps every replica view fresh', async () => {
      const one = await createDiscovery();
      const two = await createDiscovery();
      await register(one, 'a');
      await two.refresh();
      expect(pickIds(two, 2)).toEqual(['a', 'a']);

      await register(one, 'b');
      await one.updateService('a', { weight: 0 }, { scope });
      await two.refresh();
      expect(pickIds(two, 2)).toEqual(['b', 'b']);

      await one.deregisterService('b', { scope });
      await one.updateService('a', { weight: 100 }, { scope });
      await two.refresh();
      expect(pickIds(two, 2)).toEqual(['a', 'a']);

      if (knex.client.config.client === 'pg') {
        // NOTIFY: the other replica hears of it without polling.
        await register(one, 'c');
        await eventually(() =>
          pickIds(two, 2).includes('c') ? true : undefined,
        );
      }
    });
  },
);
