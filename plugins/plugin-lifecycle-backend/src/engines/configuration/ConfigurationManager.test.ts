import { LoggerService } from '@backstage/backend-plugin-api';
import { mockServices } from '@backstage/backend-test-utils';
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import {
  ConfigurationEntry,
  EffectiveConfiguration,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { createTestDatabases } from '../../__testUtils__/databases';
import { applyDatabaseMigrations } from '../../database/migrations';
import { PluginStore } from '../../database/PluginStore';
import { SystemEvents } from '../../events/SystemEvents';
import { inTenantScope } from '../../domain/tenancy';
import { LifecycleStateMachine } from '../lifecycle/LifecycleStateMachine';
import { ConfigMaintenance } from './ConfigMaintenance';
import {
  ConfigurationManager,
  ConfigurationManagerOptions,
} from './ConfigurationManager';
import { sealContext } from './ConfigSealer';
import { exportConfiguration, importConfiguration } from './configBackup';
import { SecretKeyRing } from './SecretKeyRing';

jest.setTimeout(60_000);

const databases = createTestDatabases();

const KEY_A = { id: 'a', secret: randomBytes(32).toString('base64') };
const KEY_B = { id: 'b', secret: randomBytes(32).toString('base64') };
const PLUGIN = 'my-plugin';
const MASK = '********';
const CANARY = 'PLAINTEXT-CANARY-7f3a';

/** A logger that keeps every message and its meta. */
class CapturingLogger implements LoggerService {
  constructor(
    readonly lines: Array<{
      level: string;
      message: string;
      meta?: unknown;
    }> = [],
    private readonly fields: Record<string, unknown> = {},
  ) {}
  #log(level: string, message: string, meta?: unknown) {
    this.lines.push({ level, message, meta: { ...this.fields, meta } });
  }
  error(message: string, meta?: any) {
    this.#log('error', message, meta);
  }
  warn(message: string, meta?: any) {
    this.#log('warn', message, meta);
  }
  info(message: string, meta?: any) {
    this.#log('info', message, meta);
  }
  debug(message: string, meta?: any) {
    this.#log('debug', message, meta);
  }
  child(meta: any): LoggerService {
    return new CapturingLogger(this.lines, { ...this.fields, ...meta });
  }
}

/** Collects values and lets a test wait for the n-th one. */
function recorder<T>() {
  const items: T[] = [];
  let waiters: Array<() => void> = [];
  const next = () => new Promise<void>(r => waiters.push(r));
  return {
    items,
    push(item: T) {
      items.push(item);
      const ready = waiters;
      waiters = [];
      ready.forEach(w => w());
    },
    async nth(n: number): Promise<T> {
      while (items.length < n) {
        await next();
      }
      return items[n - 1];
    },
  };
}

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

/** The statements a knex instance sends, by what they read. */
function watchQueries(knex: Knex) {
  const sql: string[] = [];
  const listener = (query: { sql: string }) => sql.push(query.sql);
  knex.on('query', listener);
  return {
    /** Plugin lookups. */
    plugins: () => sql.filter(s => /\bplugins\b/i.test(s)).length,
    /** Reads and writes of one plugin's configuration (not the change feed). */
    configuration: () =>
      sql.filter(s => /\bplugin_id["`]?\s*(=|in\b)/i.test(s)).length,
    reset: () => sql.splice(0),
    stop: () => knex.removeListener('query', listener),
  };
}

const pause = (ms: number) => new Promise(r => setTimeout(r, ms));

function values(configuration: { entries: ConfigurationEntry[] }) {
  return Object.fromEntries(configuration.entries.map(e => [e.key, e.value]));
}

const designExample: ConfigurationEntry[] = [
  {
    key: 'feature.enabled',
    value: true,
    type: 'boolean',
    description: 'Turns on the new feature',
  },
  {
    key: 'api.key',
    value: 'secret-key-value',
    type: 'secret',
    sensitive: true,
  },
];

describe.each(databases.eachSupportedId())(
  'ConfigurationManager on %s',
  databaseId => {
    const managers: ConfigurationManager[] = [];
    const knexes: Knex[] = [];
    let schema: Record<string, unknown> | undefined;

    beforeEach(() => {
      schema = undefined;
    });

    afterEach(async () => {
      await Promise.all(managers.splice(0).map(m => m.shutdown()));
      // Each test has databases of its own: their connections go with them,
      // or the file's tests together outgrow PostgreSQL's max_connections.
      await Promise.all(knexes.splice(0).map(k => k.destroy()));
    });

    async function createDatabase(pluginIds = [PLUGIN]) {
      const knex = await databases.init(databaseId);
      knexes.push(knex);
      await applyDatabaseMigrations({ getClient: async () => knex });
      const plugins = PluginStore.create({ db: knex });
      for (const id of pluginIds) {
        await plugins.create({ id, tenant: 't', runtime: 'process' });
      }
      return { knex, plugins };
    }

    async function createManager(
      knex: Knex,
      options: {
        keys?: Array<{ id: string; secret: string }>;
        activeKeyId?: string;
        logger?: LoggerService;
        events?: SystemEvents;
        pluginCacheTtlMs?: number;
        now?: () => number;
        onChanged?: ConfigurationManagerOptions['onChanged'];
      } = {},
    ) {
      const plugins = PluginStore.create({ db: knex });
      const events = options.events ?? new SystemEvents();
      const manager = await ConfigurationManager.create({
        db: knex,
        logger: options.logger ?? mockServices.logger.mock(),
        keyRing: SecretKeyRing.create({
          keys: options.keys ?? [KEY_A],
          activeKeyId: options.activeKeyId,
        }),
        events,
        environments: ['development', 'staging', 'production'],
        defaultEnvironment: 'production',
        maxVersionHistory: 5,
        pollIntervalMs: 50,
        // As the system does: another tenant's plugin is not there.
        getPlugin: async (id, scope) => {
          const plugin = await plugins.get(id);
          if (!plugin || !inTenantScope(scope, plugin.tenant)) {
            throw new NotFoundError(`No plugin with id '${id}'`);
          }
          return plugin;
        },
        getSchema: async () => schema,
        pluginCacheTtlMs: options.pluginCacheTtlMs,
        now: options.now,
        onChanged: options.onChanged,
      });
      managers.push(manager);
      return { manager, events };
    }

    async function setup() {
      const db = await createDatabase();
      const { manager, events } = await createManager(db.knex);
      return { ...db, manager, events };
    }

    describe('writing and reading', () => {
      it('stores the design example as version 1 and masks its secret', async () => {
        const { manager, events } = await setup();
        const changed = recorder<any>();
        events.on('configurationManager:changed', p => changed.push(p));

        const result = await manager.replacePluginConfiguration(
          PLUGIN,
          designExample,
          {
            environment: 'production',
            userId: 'admin',
            description: 'Enable new feature with API key',
          },
        );
        expect(result.operationId).toBeUndefined();
        expect(result.version).toMatchObject({
          pluginId: PLUGIN,
          layer: 'production',
          version: 1,
          author: 'admin',
          description: 'Enable new feature with API key',
          entryCount: 2,
        });
        expect(changed.items).toEqual([
          {
            pluginId: PLUGIN,
            layer: 'production',
            version: 1,
            revision: result.version.revision,
            author: 'admin',
            keys: ['feature.enabled', 'api.key'],
          },
        ]);

        const masked = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
        );
        expect(masked).toEqual({
          pluginId: PLUGIN,
          environment: 'production',
          version: 1,
          baseVersion: 0,
          revision: result.version.revision,
          entries: [
            {
              key: 'api.key',
              value: MASK,
              type: 'secret',
              sensitive: true,
              masked: true,
              source: { layer: 'production', version: 1 },
            },
            {
              key: 'feature.enabled',
              value: true,
              type: 'boolean',
              description: 'Turns on the new feature',
              source: { layer: 'production', version: 1 },
            },
          ],
        });
        expect(JSON.stringify(masked)).not.toContain('secret-key-value');

        const revealed = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { reveal: true },
        );
        expect(values(revealed)).toEqual({
          'api.key': 'secret-key-value',
          'feature.enabled': true,
        });
        expect(revealed.entries[0].masked).toBeUndefined();

        // Other environments do not see a production layer.
        const staging = await manager.getEffectiveConfiguration(
          PLUGIN,
          'staging',
        );
        expect(staging).toMatchObject({
          version: 0,
          baseVersion: 0,
          revision: 0,
          entries: [],
        });
        // The default environment is production.
        const second = await manager.replacePluginConfiguration(PLUGIN, [
          { key: 'feature.enabled', value: false, type: 'boolean' },
        ]);
        expect(second.version).toMatchObject({
          layer: 'production',
          version: 2,
        });
      });

      it('merges the base layer under an environment and tells where each value comes from', async () => {
        const { manager } = await setup();
        const base1 = await manager.replacePluginConfiguration(
          PLUGIN,
          [
            { key: 'log.level', value: 'info', type: 'string' },
            { key: 'pool.size', value: 5, type: 'number' },
          ],
          { environment: 'base' },
        );
        const prod1 = await manager.replacePluginConfiguration(
          PLUGIN,
          [
            { key: 'log.level', value: 'warn', type: 'string' },
            { key: 'db.password', value: 'pw', type: 'secret' },
          ],
          { environment: 'production' },
        );
        expect(prod1.version.revision).toBeGreaterThan(base1.version.revision);

        const prod = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
        );
        expect(prod).toMatchObject({
          version: 1,
          baseVersion: 1,
          revision: prod1.version.revision,
        });
        expect(
          prod.entries.map(e => [
            e.key,
            e.value,
            e.source.layer,
            e.source.version,
          ]),
        ).toEqual([
          ['db.password', MASK, 'production', 1],
          ['log.level', 'warn', 'production', 1],
          ['pool.size', 5, 'base', 1],
        ]);

        const dev = await manager.getEffectiveConfiguration(
          PLUGIN,
          'development',
        );
        expect(dev).toMatchObject({
          version: 0,
          baseVersion: 1,
          revision: base1.version.revision,
        });
        expect(values(dev)).toEqual({ 'log.level': 'info', 'pool.size': 5 });

        const base2 = await manager.replacePluginConfiguration(
          PLUGIN,
          [
            { key: 'log.level', value: 'debug', type: 'string' },
            { key: 'pool.size', value: 10, type: 'number' },
          ],
          { environment: 'base' },
        );
        const after = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
        );
        expect(after.revision).toBe(base2.version.revision);
        expect(after.revision).toBeGreaterThan(prod.revision);
        expect(after).toMatchObject({ version: 1, baseVersion: 2 });
        expect(
          after.entries.map(e => [
            e.key,
            e.value,
            e.source.layer,
            e.source.version,
          ]),
        ).toEqual([
          ['db.password', MASK, 'production', 1],
          ['log.level', 'warn', 'production', 1],
          ['pool.size', 10, 'base', 2],
        ]);

        const resolved = await manager.resolve(PLUGIN, 'production');
        expect(resolved.versions).toEqual({ base: 2, environment: 1 });
        expect(values(resolved)['db.password']).toBe('pw');
      });
    });

    describe('validation', () => {
      it('lists every bad entry and stores nothing', async () => {
        const { manager } = await setup();
        const error = await caught(
          manager.replacePluginConfiguration(
            PLUGIN,
            [
              { key: 'port', value: 'eighty', type: 'number' },
              { key: 'enabled', value: 'yes', type: 'boolean' },
              { key: 'name', value: 'a', type: 'string' },
              { key: 'name', value: 'b', type: 'string' },
              { key: 'token', value: '', type: 'secret' },
              { key: 'url', value: '', type: 'string', required: true },
            ],
            { environment: 'production' },
          ),
        );
        expect(error).toBeInstanceOf(InputError);
        for (const key of ['port', 'enabled', 'name', 'token', 'url']) {
          expect(error.message).toContain(`${key}:`);
        }
        expect(error.message).toMatch(/name: appears 2 times/);
        expect(await manager.listVersions(PLUGIN, 'production')).toEqual([]);

        // Malformed entries (the API's schema) are refused too.
        await expect(
          manager.replacePluginConfiguration(PLUGIN, [
            { key: 'bad key!', value: 'x', type: 'string' },
          ]),
        ).rejects.toThrow(InputError);
        await expect(
          manager.replacePluginConfiguration(PLUGIN, [
            { key: 'x', value: 'x', type: 'text' as any },
          ]),
        ).rejects.toThrow(InputError);
        expect(await manager.listVersions(PLUGIN, 'production')).toEqual([]);
      });

      it("holds entries to the plugin's schema, listing every failing key", async () => {
        const { manager } = await setup();
        schema = {
          type: 'object',
          properties: { 'pool.size': { type: 'integer', minimum: 1 } },
          required: ['database.url'],
        };
        const error = await caught(
          manager.replacePluginConfiguration(
            PLUGIN,
            [{ key: 'pool.size', value: 0, type: 'number' }],
            { environment: 'production' },
          ),
        );
        expect(error).toBeInstanceOf(InputError);
        expect(error.message).toMatch(/pool\.size: must be >= 1/);
        expect(error.message).toMatch(/database\.url: is required/);
        expect(await manager.listVersions(PLUGIN, 'production')).toEqual([]);

        // The base layer alone may leave required keys to the environments...
        await manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'pool.size', value: 2, type: 'number' }],
          { environment: 'base' },
        );
        // ... which then must give them.
        await expect(
          manager.replacePluginConfiguration(
            PLUGIN,
            [{ key: 'log.level', value: 'info', type: 'string' }],
            { environment: 'staging' },
          ),
        ).rejects.toThrow(/database\.url/);
        const ok = await manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'database.url', value: 'postgres://db', type: 'string' }],
          { environment: 'staging' },
        );
        expect(ok.version.version).toBe(1);

        // A base write is checked against the environments that have a layer.
        const baseError = await caught(
          manager.replacePluginConfiguration(
            PLUGIN,
            [{ key: 'pool.size', value: 1.5, type: 'number' }],
            { environment: 'base' },
          ),
        );
        expect(baseError).toBeInstanceOf(InputError);
        expect(baseError.message).toMatch(/pool\.size: must be integer/);
        expect(
          (await manager.listVersions(PLUGIN, 'base')).map(v => v.version),
        ).toEqual([1]);
      });

      it('refuses unknown environments', async () => {
        const { manager } = await setup();
        await expect(
          manager.replacePluginConfiguration(PLUGIN, designExample, {
            environment: 'qa',
          }),
        ).rejects.toThrow(InputError);
        await expect(
          manager.getEffectiveConfiguration(PLUGIN, 'qa'),
        ).rejects.toThrow(InputError);
        // `base` is a layer, not an environment to run in.
        await expect(
          manager.getEffectiveConfiguration(PLUGIN, 'base'),
        ).rejects.toThrow(InputError);
        await expect(manager.listVersions(PLUGIN, 'qa')).rejects.toThrow(
          InputError,
        );
        expect(() =>
          manager.watchConfiguration(PLUGIN, 'qa', undefined, () => {}),
        ).toThrow(InputError);
        await expect(
          manager.getEffectiveConfiguration('no-such-plugin', 'production'),
        ).rejects.toThrow(NotFoundError);
      });

      it('refuses a stale expectedVersion with a conflict and stores nothing', async () => {
        const { manager } = await setup();
        await manager.replacePluginConfiguration(PLUGIN, designExample, {
          expectedVersion: 0,
        });
        const error = await caught(
          manager.replacePluginConfiguration(
            PLUGIN,
            [{ key: 'feature.enabled', value: false, type: 'boolean' }],
            { expectedVersion: 0 },
          ),
        );
        expect(error).toBeInstanceOf(ConflictError);
        expect(error.name).toBe('ConflictError');
        expect(
          (await manager.listVersions(PLUGIN, 'production')).map(
            v => v.version,
          ),
        ).toEqual([1]);
        const ok = await manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'feature.enabled', value: false, type: 'boolean' }],
          { expectedVersion: 1 },
        );
        expect(ok.version.version).toBe(2);
      });
    });

    describe('merge, replace, no-op and preview', () => {
      async function setupWatched() {
        const db = await createDatabase();
        const onChanged = jest.fn(async () => 'op-1');
        const { manager, events } = await createManager(db.knex, {
          onChanged,
        });
        const changed = recorder<any>();
        events.on('configurationManager:changed', p => changed.push(p));
        return { ...db, manager, onChanged, changed };
      }

      const versionsOf = async (manager: ConfigurationManager, layer: string) =>
        (await manager.listVersions(PLUGIN, layer)).map(v => v.version);

      it("merges the design example's call into the layer instead of replacing it", async () => {
        const { manager } = await setup();
        await manager.replacePluginConfiguration(PLUGIN, [
          {
            key: 'db.url',
            value: 'postgres://db',
            type: 'string',
            required: true,
          },
          { key: 'feature.enabled', value: false, type: 'boolean' },
        ]);
        // The call exactly as ORIGINAL-DESIGN.md writes it.
        const result = await manager.setPluginConfiguration(
          PLUGIN,
          [
            {
              key: 'feature.enabled',
              value: true,
              type: 'boolean',
              description: 'Enable new feature flag',
            },
            {
              key: 'api.key',
              value: 'secret-key-value',
              type: 'secret',
              sensitive: true,
            },
          ],
          {
            environment: 'production',
            userId: 'admin',
            description: 'Enable new feature with API key',
          },
        );
        expect(result).toMatchObject({
          changed: true,
          version: { version: 2, entryCount: 3, author: 'admin' },
        });
        const effective = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { reveal: true },
        );
        expect(values(effective)).toEqual({
          'api.key': 'secret-key-value',
          'db.url': 'postgres://db',
          'feature.enabled': true,
        });
        // The entry it did not name keeps its flag.
        expect(effective.entries.find(e => e.key === 'db.url')?.required).toBe(
          true,
        );

        const removed = await manager.setPluginConfiguration(PLUGIN, [], {
          remove: ['feature.enabled', 'not.there'],
        });
        expect(removed.version.version).toBe(3);
        expect(
          values(await manager.getEffectiveConfiguration(PLUGIN, 'production')),
        ).toEqual({ 'api.key': MASK, 'db.url': 'postgres://db' });
      });

      it('refuses a write that drops a required key, naming it, and stores nothing', async () => {
        const { manager } = await setup();
        await manager.replacePluginConfiguration(PLUGIN, [
          {
            key: 'db.url',
            value: 'postgres://db',
            type: 'string',
            required: true,
          },
          { key: 'db.user', value: 'app', type: 'string', required: true },
          { key: 'pool.size', value: 5, type: 'number' },
        ]);
        const replaced = await caught(
          manager.replacePluginConfiguration(PLUGIN, [
            { key: 'pool.size', value: 6, type: 'number' },
          ]),
        );
        expect(replaced).toBeInstanceOf(InputError);
        expect(replaced.message).toBe(
          "Invalid configuration for 'my-plugin' (production): db.url: is required and this write would remove it; db.user: is required and this write would remove it",
        );
        const removed = await caught(
          manager.setPluginConfiguration(PLUGIN, [], { remove: ['db.user'] }),
        );
        expect(removed).toBeInstanceOf(InputError);
        expect(removed.message).toBe(
          "Invalid configuration for 'my-plugin' (production): db.user: is required and this write would remove it",
        );
        expect(await versionsOf(manager, 'production')).toEqual([1]);

        // Unmarked first, a key may go.
        await manager.setPluginConfiguration(PLUGIN, [
          { key: 'db.user', value: 'app', type: 'string', required: false },
        ]);
        await manager.setPluginConfiguration(PLUGIN, [], {
          remove: ['db.user'],
        });
        // An install's configuration is a new start.
        await manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'pool.size', value: 6, type: 'number' }],
          { allowDroppingRequired: true },
        );
        expect(await versionsOf(manager, 'production')).toEqual([4, 3, 2, 1]);
      });

      it('holds a base write to every environment it feeds', async () => {
        const { manager } = await setup();
        await manager.replacePluginConfiguration(
          PLUGIN,
          [
            {
              key: 'db.url',
              value: 'postgres://base',
              type: 'string',
              required: true,
            },
          ],
          { environment: 'base' },
        );
        await manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'db.url', value: 'postgres://prod', type: 'string' }],
          { environment: 'production' },
        );
        // Production has its own value, the other environments do not.
        await expect(
          manager.replacePluginConfiguration(PLUGIN, [], {
            environment: 'base',
          }),
        ).rejects.toThrow(
          /db\.url: is required and this write would remove it/,
        );
        // An environment dropping its own copy leaves the base's value.
        const prod = await manager.replacePluginConfiguration(PLUGIN, [], {
          environment: 'production',
        });
        expect(prod.changed).toBe(true);
        expect(
          values(await manager.getEffectiveConfiguration(PLUGIN, 'production')),
        ).toEqual({ 'db.url': 'postgres://base' });
      });

      it('answers a write that changes nothing with the current version, and tells no one', async () => {
        const { manager, onChanged, changed } = await setupWatched();
        const first = await manager.replacePluginConfiguration(
          PLUGIN,
          designExample,
        );
        expect(first.changed).toBe(true);
        expect(onChanged).toHaveBeenCalledTimes(1);
        const events = changed.items.length;

        const unchanged = [
          // The same content in another order, the secret in plaintext.
          () =>
            manager.replacePluginConfiguration(
              PLUGIN,
              [...designExample].reverse(),
            ),
          // The secret sent back masked.
          () =>
            manager.replacePluginConfiguration(PLUGIN, [
              designExample[0],
              { ...designExample[1], value: MASK },
            ]),
          // A merge that sets what is there, or removes what is not.
          () => manager.setPluginConfiguration(PLUGIN, [designExample[0]]),
          () => manager.setPluginConfiguration(PLUGIN, [], { remove: ['x'] }),
          () =>
            manager.setPluginConfiguration(PLUGIN, designExample, {
              expectedVersion: 1,
            }),
        ];
        for (const write of unchanged) {
          const result = await write();
          expect(result).toEqual({ changed: false, version: first.version });
        }
        expect(await versionsOf(manager, 'production')).toEqual([1]);
        expect(onChanged).toHaveBeenCalledTimes(1);
        expect(changed.items.length).toBe(events);

        // A stale expectedVersion is still a conflict.
        await expect(
          manager.setPluginConfiguration(PLUGIN, designExample, {
            expectedVersion: 0,
          }),
        ).rejects.toThrow(ConflictError);
        // Another secret value is a change, though both show masked.
        const rotated = await manager.setPluginConfiguration(PLUGIN, [
          { ...designExample[1], value: 'another-secret' },
        ]);
        expect(rotated).toMatchObject({
          changed: true,
          operationId: 'op-1',
          version: { version: 2 },
        });
        expect(onChanged).toHaveBeenCalledTimes(2);
      });

      it('takes back a layer read masked, as the editor shows it, as no change', async () => {
        const { manager, onChanged, changed } = await setupWatched();
        const content: ConfigurationEntry[] = [
          { key: 'pool.size', value: 5, type: 'number', required: false },
          { key: 'api.key', value: 's3cret', type: 'secret', required: true },
          { key: 'db.password', value: 'pw', type: 'string', sensitive: true },
          { key: 'flag', value: true, type: 'boolean', sensitive: true },
          { key: 'limits', value: { rps: 1, b: [1] }, type: 'json' },
        ];
        const first = await manager.replacePluginConfiguration(PLUGIN, content);
        const events = changed.items.length;
        const read = await manager.getVersion(PLUGIN, 'production', 1);
        expect(JSON.stringify(read)).not.toContain('s3cret');
        // What the editor sends back: the view without its `masked` marks.
        const back = read.entries.map(({ masked: _m, ...entry }) => entry);

        const result = await manager.replacePluginConfiguration(PLUGIN, back, {
          expectedVersion: 1,
          description: 'saved without a change',
        });
        expect(result).toEqual({ changed: false, version: first.version });
        expect(await versionsOf(manager, 'production')).toEqual([1]);
        expect(onChanged).toHaveBeenCalledTimes(1);
        expect(changed.items.length).toBe(events);
      });

      it('rolls back to the content the layer holds by storing and applying nothing', async () => {
        const { manager, onChanged } = await setupWatched();
        const one = [{ key: 'a', value: 1, type: 'number' as const }];
        const two = [{ key: 'a', value: 2, type: 'number' as const }];
        await manager.replacePluginConfiguration(PLUGIN, one);
        await manager.replacePluginConfiguration(PLUGIN, two);
        const back = await manager.rollback(PLUGIN, 'production', 1);
        expect(back).toMatchObject({ changed: true, version: { version: 3 } });
        expect(onChanged).toHaveBeenCalledTimes(3);

        // v3 holds v1's content: rolling back to either is no change.
        for (const toVersion of [1, 3]) {
          const again = await manager.rollback(
            PLUGIN,
            'production',
            toVersion,
            {
              expectedVersion: 3,
            },
          );
          expect(again).toEqual({ changed: false, version: back.version });
        }
        expect(await versionsOf(manager, 'production')).toEqual([3, 2, 1]);
        expect(onChanged).toHaveBeenCalledTimes(3);
        // A stale expectedVersion is a conflict, change or not.
        await expect(
          manager.rollback(PLUGIN, 'production', 1, { expectedVersion: 2 }),
        ).rejects.toThrow(ConflictError);
      });

      it('previews a write without storing, announcing or applying it', async () => {
        const { manager, onChanged, changed } = await setupWatched();
        await manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'log.level', value: 'info', type: 'string' }],
          { environment: 'base' },
        );
        await manager.replacePluginConfiguration(PLUGIN, designExample);
        const calls = onChanged.mock.calls.length;
        const events = changed.items.length;

        const preview = await manager.previewPluginConfiguration(PLUGIN, {
          mode: 'merge',
          entries: [
            { key: 'pool.size', value: 5, type: 'number' },
            { key: 'api.key', value: CANARY, type: 'secret', sensitive: true },
          ],
          remove: ['feature.enabled'],
        });
        expect(JSON.stringify(preview)).not.toContain(CANARY);
        expect(preview).toMatchObject({
          dryRun: true,
          pluginId: PLUGIN,
          layer: 'production',
          currentVersion: 1,
          changed: true,
          diff: {
            from: 1,
            to: 2,
            added: [{ key: 'pool.size', value: 5 }],
            removed: [{ key: 'feature.enabled' }],
            changed: [{ key: 'api.key', fields: ['value'] }],
          },
        });
        expect(preview.entries.map(e => [e.key, e.value])).toEqual([
          ['api.key', MASK],
          ['pool.size', 5],
        ]);
        expect(preview.effective).toHaveLength(1);
        expect(
          preview.effective[0].entries.map(e => [e.key, e.source]),
        ).toEqual([
          ['api.key', { layer: 'production', version: 2 }],
          ['log.level', { layer: 'base', version: 1 }],
          ['pool.size', { layer: 'production', version: 2 }],
        ]);
        expect(preview.effective[0]).toMatchObject({
          environment: 'production',
          version: 2,
          baseVersion: 1,
        });

        // A base preview shows every environment it feeds.
        const base = await manager.previewPluginConfiguration(
          PLUGIN,
          { mode: 'replace', entries: [] },
          { environment: 'base' },
        );
        expect(
          base.effective.map(e => [e.environment, e.entries.length]),
        ).toEqual([
          ['development', 0],
          ['staging', 0],
          ['production', 2],
        ]);
        // Unchanged, invalid and stale previews answer as the write would.
        const same = await manager.previewPluginConfiguration(PLUGIN, {
          mode: 'replace',
          entries: designExample,
        });
        expect(same).toMatchObject({
          changed: false,
          diff: { from: 1, to: 1, added: [], removed: [], changed: [] },
        });
        await expect(
          manager.previewPluginConfiguration(PLUGIN, {
            mode: 'merge',
            entries: [{ key: 'pool.size', value: 'five', type: 'number' }],
          }),
        ).rejects.toThrow(InputError);
        await expect(
          manager.previewPluginConfiguration(
            PLUGIN,
            { mode: 'merge', entries: [] },
            { expectedVersion: 7 },
          ),
        ).rejects.toThrow(ConflictError);

        expect(await versionsOf(manager, 'production')).toEqual([1]);
        expect(await versionsOf(manager, 'base')).toEqual([1]);
        expect(onChanged).toHaveBeenCalledTimes(calls);
        expect(changed.items.length).toBe(events);
      });

      it('loses neither of two merges made at the same time', async () => {
        const { manager } = await setup();
        await manager.replacePluginConfiguration(PLUGIN, designExample);
        await Promise.all(
          ['a', 'b', 'c'].map(key =>
            manager.setPluginConfiguration(PLUGIN, [
              { key, value: key, type: 'string' },
            ]),
          ),
        );
        expect(
          Object.keys(
            values(
              await manager.getEffectiveConfiguration(PLUGIN, 'production'),
            ),
          ),
        ).toEqual(['a', 'api.key', 'b', 'c', 'feature.enabled']);
        expect(await versionsOf(manager, 'production')).toEqual([4, 3, 2, 1]);
      });
    });

    describe('masked secrets', () => {
      it('keeps the stored value of a secret written back masked', async () => {
        const { manager } = await setup();
        await manager.replacePluginConfiguration(PLUGIN, designExample);
        const masked = await manager.getVersion(PLUGIN, 'production', 1);
        const apiKey = masked.entries.find(e => e.key === 'api.key')!;
        expect(apiKey).toMatchObject({ value: MASK, masked: true });

        // A form sends back what it got, with one value changed.
        const { masked: _m, ...withoutFlag } = apiKey;
        await manager.replacePluginConfiguration(PLUGIN, [
          { key: 'feature.enabled', value: false, type: 'boolean' },
          withoutFlag,
        ]);
        const revealed = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { reveal: true },
        );
        expect(revealed.version).toBe(2);
        expect(values(revealed)).toEqual({
          'api.key': 'secret-key-value',
          'feature.enabled': false,
        });
        const v2 = await manager.getVersion(PLUGIN, 'production', 2, {
          reveal: true,
        });
        expect(v2.entries.find(e => e.key === 'api.key')!.value).toBe(
          'secret-key-value',
        );

        // A masked value with nothing stored before it cannot be kept.
        const error = await caught(
          manager.replacePluginConfiguration(PLUGIN, [
            withoutFlag,
            { key: 'other.secret', value: MASK, type: 'secret' },
          ]),
        );
        expect(error).toBeInstanceOf(InputError);
        expect(error.message).toContain('other.secret');
        await expect(
          manager.replacePluginConfiguration(PLUGIN, [withoutFlag], {
            environment: 'staging',
          }),
        ).rejects.toThrow(InputError);
        expect(
          (await manager.listVersions(PLUGIN, 'production')).map(
            v => v.version,
          ),
        ).toEqual([2, 1]);
        expect(await manager.listVersions(PLUGIN, 'staging')).toEqual([]);
      });
    });

    describe('history', () => {
      const v1: ConfigurationEntry[] = [
        { key: 'count', value: 1, type: 'number' },
        { key: 'old.flag', value: 'x', type: 'string' },
        { key: 'token', value: 'secret-one-1a2b', type: 'secret' },
      ];
      const v2: ConfigurationEntry[] = [
        { key: 'count', value: 2, type: 'number' },
        { key: 'new.flag', value: 'y', type: 'string' },
        { key: 'token', value: 'secret-two-3c4d', type: 'secret' },
      ];

      it('lists, shows and compares versions', async () => {
        const { manager } = await setup();
        await manager.replacePluginConfiguration(PLUGIN, v1, {
          userId: 'alice',
          description: 'first',
        });
        await manager.replacePluginConfiguration(PLUGIN, v2, { userId: 'bob' });

        const listed = await manager.listVersions(PLUGIN, 'production');
        expect(listed).toMatchObject([
          { version: 2, author: 'bob', entryCount: 3, layer: 'production' },
          { version: 1, author: 'alice', description: 'first', entryCount: 3 },
        ]);
        expect(listed[0].revision).toBeGreaterThan(listed[1].revision);

        const masked = await manager.getVersion(PLUGIN, 'production', 1);
        expect(masked).toMatchObject({ version: 1, author: 'alice' });
        expect(masked.entries).toEqual([
          v1[0],
          v1[1],
          { ...v1[2], value: MASK, masked: true },
        ]);
        const revealed = await manager.getVersion(PLUGIN, 'production', 1, {
          reveal: true,
        });
        expect(revealed.entries).toEqual(v1);
        await expect(
          manager.getVersion(PLUGIN, 'production', 9),
        ).rejects.toThrow(NotFoundError);

        const diff = await manager.diffVersions(PLUGIN, 'production', 1, 2);
        expect(diff).toEqual({
          from: 1,
          to: 2,
          added: [v2[1]],
          removed: [v1[1]],
          changed: [
            { key: 'count', from: v1[0], to: v2[0], fields: ['value'] },
            {
              key: 'token',
              from: { ...v1[2], value: MASK, masked: true },
              to: { ...v2[2], value: MASK, masked: true },
              fields: ['value'],
            },
          ],
        });
        const text = JSON.stringify(diff);
        expect(text).not.toContain('secret-one');
        expect(text).not.toContain('secret-two');
      });

      it('rolls back by writing a new version and prunes old ones', async () => {
        const { manager } = await setup();
        await manager.replacePluginConfiguration(PLUGIN, v1);
        await manager.replacePluginConfiguration(PLUGIN, v2);

        const rolled = await manager.rollback(PLUGIN, 'production', 1, {
          userId: 'admin',
        });
        expect(rolled.version).toMatchObject({
          version: 3,
          rolledBackFrom: 1,
          author: 'admin',
          description: 'rollback to version 1',
        });
        const v3 = await manager.getVersion(PLUGIN, 'production', 3, {
          reveal: true,
        });
        expect(v3.entries).toEqual(v1);
        expect(v3.rolledBackFrom).toBe(1);
        const effective = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { reveal: true },
        );
        expect(effective.version).toBe(3);
        expect(values(effective).token).toBe('secret-one-1a2b');
        // Rolling back with a stale expectedVersion conflicts.
        await expect(
          manager.rollback(PLUGIN, 'production', 2, { expectedVersion: 2 }),
        ).rejects.toThrow(ConflictError);

        for (let i = 4; i <= 7; i++) {
          await manager.replacePluginConfiguration(PLUGIN, [
            { key: 'count', value: i, type: 'number' },
          ]);
        }
        expect(
          (await manager.listVersions(PLUGIN, 'production')).map(
            v => v.version,
          ),
        ).toEqual([7, 6, 5, 4, 3]);
        await expect(
          manager.getVersion(PLUGIN, 'production', 1),
        ).rejects.toThrow(NotFoundError);
        await expect(manager.rollback(PLUGIN, 'production', 2)).rejects.toThrow(
          NotFoundError,
        );
        // The rollback version outlived the version it restored.
        expect(
          (await manager.getVersion(PLUGIN, 'production', 3, { reveal: true }))
            .entries,
        ).toEqual(v1);
        const r = await manager.rollback(PLUGIN, 'production', 3);
        expect(r.version).toMatchObject({ version: 8, rolledBackFrom: 3 });
      });

      it('restores the layers as of a revision as new versions, leaving unchanged ones alone', async () => {
        const { manager, plugins } = await setup();
        const plugin = await plugins.getOrThrow(PLUGIN);
        await manager.replacePluginConfiguration(PLUGIN, v1, {
          environment: 'base',
        });
        await manager.replacePluginConfiguration(PLUGIN, v1);
        const then = await manager.resolve(PLUGIN, 'production');
        await manager.replacePluginConfiguration(PLUGIN, v2);
        // Another environment is not the plugin's: left alone.
        await manager.replacePluginConfiguration(PLUGIN, v2, {
          environment: 'staging',
        });

        const restored = await manager.restoreAtRevision(
          plugin,
          'production',
          then.revision,
          {
            author: 'admin',
            description: 'restored with rollback of update u1',
          },
        );
        expect(restored).toEqual([
          {
            layer: 'production',
            version: 3,
            revision: expect.any(Number),
            previousVersion: 2,
          },
        ]);
        const v3 = await manager.getVersion(PLUGIN, 'production', 3, {
          reveal: true,
        });
        expect(v3).toMatchObject({
          author: 'admin',
          description: 'restored with rollback of update u1',
          rolledBackFrom: 1,
          entries: v1,
        });
        expect(
          (await manager.listVersions(PLUGIN, 'base')).map(v => v.version),
        ).toEqual([1]);
        expect(
          (await manager.listVersions(PLUGIN, 'staging')).map(v => v.version),
        ).toEqual([1]);
        // Restoring again changes nothing.
        expect(
          await manager.restoreAtRevision(plugin, 'production', then.revision, {
            description: 'again',
          }),
        ).toEqual([]);
        // A layer that did not exist then is restored to nothing.
        const none = await manager.restoreAtRevision(plugin, 'production', 0, {
          description: 'to the beginning',
        });
        expect(none.map(r => [r.layer, r.version, r.previousVersion])).toEqual([
          ['base', 2, 1],
          ['production', 4, 3],
        ]);
        expect(
          (await manager.getVersion(PLUGIN, 'production', 4)).entries,
        ).toEqual([]);
      });

      it('refuses to restore a revision whose versions were pruned', async () => {
        const { manager, plugins } = await setup();
        const plugin = await plugins.getOrThrow(PLUGIN);
        await manager.replacePluginConfiguration(PLUGIN, v1);
        const then = await manager.resolve(PLUGIN, 'production');
        for (let i = 2; i <= 6; i++) {
          await manager.replacePluginConfiguration(PLUGIN, [
            { key: 'count', value: i, type: 'number' },
          ]);
        }
        await expect(
          manager.restoreAtRevision(plugin, 'production', then.revision, {
            description: 'too late',
          }),
        ).rejects.toThrow(
          /as of revision \d+ is no longer kept \(versions before 2 were pruned/,
        );
        expect(
          (await manager.listVersions(PLUGIN, 'production'))[0].version,
        ).toBe(6);
      });

      it('reads the effective configuration as of a point in time', async () => {
        const { manager } = await setup();
        const before = new Date().toISOString();
        await pause(30);
        await manager.replacePluginConfiguration(PLUGIN, v1);
        await pause(30);
        const between = new Date().toISOString();
        await pause(30);
        await manager.replacePluginConfiguration(PLUGIN, v2);

        const then = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { at: between, reveal: true },
        );
        expect(then).toMatchObject({ version: 1, at: between });
        expect(values(then)).toEqual({
          count: 1,
          'old.flag': 'x',
          token: 'secret-one-1a2b',
        });
        const maskedThen = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { at: between },
        );
        expect(values(maskedThen).token).toBe(MASK);

        const earlier = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { at: before },
        );
        expect(earlier).toMatchObject({ version: 0, entries: [] });

        const now = await manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
        );
        expect(now.version).toBe(2);
        expect(now.at).toBeUndefined();
      });
    });

    describe('watching', () => {
      it('calls watchers once per change, with or without a key, until unwatched', async () => {
        const { manager } = await setup();
        await manager.replacePluginConfiguration(PLUGIN, [
          { key: 'feature.enabled', value: false, type: 'boolean' },
          { key: 'other', value: 'a', type: 'string' },
        ]);

        const all = recorder<EffectiveConfiguration>();
        const keyed = recorder<EffectiveConfiguration>();
        const sentinel = recorder<EffectiveConfiguration>();
        const stopAll = manager.watchConfiguration(
          PLUGIN,
          'production',
          undefined,
          c => all.push(c),
        );
        manager.watchConfiguration(PLUGIN, 'production', 'feature.enabled', c =>
          keyed.push(c),
        );
        manager.watchConfiguration(PLUGIN, 'production', undefined, c =>
          sentinel.push(c),
        );
        // The watchers took the current state as their starting point.
        await manager.resolve(PLUGIN, 'production');

        // 1: only another key changes, with a new secret.
        const w1 = await manager.replacePluginConfiguration(PLUGIN, [
          { key: 'feature.enabled', value: false, type: 'boolean' },
          { key: 'other', value: 'b', type: 'string' },
          { key: 'api.key', value: 'watched-secret', type: 'secret' },
        ]);
        const c1 = await all.nth(1);
        expect(c1.revision).toBe(w1.version.revision);
        expect(c1.version).toBe(2);
        expect(values(c1)).toEqual({
          'api.key': MASK,
          'feature.enabled': false,
          other: 'b',
        });
        expect(JSON.stringify(c1)).not.toContain('watched-secret');
        await sentinel.nth(1);
        expect(keyed.items).toHaveLength(0);

        // 2: the watched key changes.
        const w2 = await manager.replacePluginConfiguration(PLUGIN, [
          { key: 'feature.enabled', value: true, type: 'boolean' },
          { key: 'other', value: 'b', type: 'string' },
          { key: 'api.key', value: MASK, type: 'secret' },
        ]);
        const k1 = await keyed.nth(1);
        expect(k1.revision).toBe(w2.version.revision);
        expect(values(k1)['feature.enabled']).toBe(true);
        expect((await all.nth(2)).revision).toBe(w2.version.revision);

        // 3: a base-layer change reaches production's watchers.
        const w3 = await manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'from.base', value: 1, type: 'number' }],
          { environment: 'base' },
        );
        const c3 = await all.nth(3);
        expect(c3.revision).toBe(w3.version.revision);
        expect(c3.baseVersion).toBe(1);
        expect(values(c3)['from.base']).toBe(1);

        // 4: a change to another environment reaches no production watcher.
        await manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'x', value: 1, type: 'number' }],
          { environment: 'staging' },
        );

        // 5: after unwatching, no more calls.
        stopAll();
        const w5 = await manager.replacePluginConfiguration(PLUGIN, [
          { key: 'feature.enabled', value: false, type: 'boolean' },
        ]);
        expect((await sentinel.nth(4)).revision).toBe(w5.version.revision);
        expect((await keyed.nth(2)).revision).toBe(w5.version.revision);

        expect(all.items.map(c => c.revision)).toEqual([
          w1.version.revision,
          w2.version.revision,
          w3.version.revision,
        ]);
        expect(sentinel.items).toHaveLength(4);
        expect(keyed.items).toHaveLength(2);
      });

      it('gives revealed values to a watcher that may see them', async () => {
        const { manager } = await setup();
        const seen = recorder<EffectiveConfiguration>();
        manager.watchConfiguration(
          PLUGIN,
          'production',
          undefined,
          c => seen.push(c),
          { reveal: true },
        );
        await manager.resolve(PLUGIN, 'production');
        await manager.replacePluginConfiguration(PLUGIN, designExample);
        expect(values(await seen.nth(1))['api.key']).toBe('secret-key-value');
      });

      it('long-polls for a change', async () => {
        const { manager } = await setup();
        const w1 = await manager.replacePluginConfiguration(
          PLUGIN,
          designExample,
        );
        const r1 = w1.version.revision;

        // Already past: answers at once.
        const atOnce = await manager.waitForChange(PLUGIN, 'production', {
          afterRevision: r1 - 1,
        });
        expect(atOnce.changed).toBe(true);
        expect(atOnce.configuration.revision).toBe(r1);
        expect(values(atOnce.configuration)['api.key']).toBe(MASK);
        const byVersion = await manager.waitForChange(PLUGIN, 'production', {
          afterVersion: 0,
        });
        expect(byVersion.changed).toBe(true);

        // Not yet: waits for the next change.
        const pending = manager.waitForChange(PLUGIN, 'production', {
          afterRevision: r1,
          timeoutMs: 30_000,
        });
        await manager.getEffectiveConfiguration(PLUGIN, 'production');
        const w2 = await manager.replacePluginConfiguration(PLUGIN, [
          { key: 'feature.enabled', value: false, type: 'boolean' },
        ]);
        const waited = await pending;
        expect(waited.changed).toBe(true);
        expect(waited.configuration.revision).toBe(w2.version.revision);
        expect(values(waited.configuration)).toEqual({
          'feature.enabled': false,
        });

        // Nothing changes: answers when the time runs out.
        const timedOut = await manager.waitForChange(PLUGIN, 'production', {
          afterRevision: w2.version.revision,
          timeoutMs: 100,
        });
        expect(timedOut).toEqual({
          changed: false,
          configuration: expect.objectContaining({
            revision: w2.version.revision,
          }),
        });

        // Aborted: answers at once, unchanged.
        const controller = new AbortController();
        const aborted = manager.waitForChange(PLUGIN, 'production', {
          afterRevision: w2.version.revision,
          timeoutMs: 30_000,
          signal: controller.signal,
        });
        await manager.getEffectiveConfiguration(PLUGIN, 'production');
        controller.abort();
        expect((await aborted).changed).toBe(false);
      });

      it('reaches a watcher on another instance over the same database', async () => {
        const { knex, manager: writer } = await setup();
        const { manager: reader } = await createManager(knex);
        await writer.replacePluginConfiguration(PLUGIN, designExample);

        const prod = recorder<EffectiveConfiguration>();
        const dev = recorder<EffectiveConfiguration>();
        reader.watchConfiguration(PLUGIN, 'production', undefined, c =>
          prod.push(c),
        );
        reader.watchConfiguration(PLUGIN, 'development', undefined, c =>
          dev.push(c),
        );
        await reader.resolve(PLUGIN, 'production');
        await reader.resolve(PLUGIN, 'development');
        const cached = await reader.getEffectiveConfiguration(
          PLUGIN,
          'production',
        );
        expect(cached.version).toBe(1);

        const w2 = await writer.replacePluginConfiguration(PLUGIN, [
          { key: 'feature.enabled', value: false, type: 'boolean' },
          { key: 'api.key', value: MASK, type: 'secret' },
        ]);
        const seen = await prod.nth(1);
        expect(seen.revision).toBe(w2.version.revision);
        expect(values(seen)).toEqual({
          'api.key': MASK,
          'feature.enabled': false,
        });
        // The reader's cache was refreshed too.
        const fresh = await reader.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { reveal: true },
        );
        expect(fresh.version).toBe(2);
        expect(values(fresh)['api.key']).toBe('secret-key-value');

        const w3 = await writer.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'shared', value: 'yes', type: 'string' }],
          { environment: 'base' },
        );
        expect((await dev.nth(1)).revision).toBe(w3.version.revision);
        expect((await prod.nth(2)).revision).toBe(w3.version.revision);
        expect(prod.items).toHaveLength(2);
      });
    });

    describe('plugin lookups', () => {
      const OWN_TENANT = { tenants: ['t'] };
      const OTHER_TENANT = { tenants: ['u'] };

      it('answers a cached read from memory, without a query', async () => {
        const { knex, manager } = await setup();
        const queries = watchQueries(knex);
        try {
          await manager.replacePluginConfiguration(PLUGIN, designExample);
          // Sanity: the count sees plugin lookups (a write looks it up).
          expect(queries.plugins()).toBeGreaterThan(0);
          queries.reset();
          const first = await manager.getEffectiveConfiguration(
            PLUGIN,
            'production',
          );
          // ... and the layer reads of a read that is not cached.
          expect(queries.configuration()).toBe(2);
          queries.reset();

          for (let i = 0; i < 3; i++) {
            expect(
              await manager.getEffectiveConfiguration(PLUGIN, 'production', {
                scope: OWN_TENANT,
              }),
            ).toEqual(first);
          }
          await manager.waitForChange(PLUGIN, 'production', {
            afterRevision: 0,
            scope: OWN_TENANT,
          });
          expect(queries.plugins()).toBe(0);
          expect(queries.configuration()).toBe(0);

          // History reads query the versions, but do not look the plugin up.
          await manager.listVersions(PLUGIN, 'production');
          await manager.getVersion(PLUGIN, 'production', 1);
          await manager.diffVersions(PLUGIN, 'production', 1, 1);
          expect(queries.configuration()).toBeGreaterThan(0);
          expect(queries.plugins()).toBe(0);
        } finally {
          queries.stop();
        }
      });

      it("still refuses another tenant's plugin, kept or not", async () => {
        const { knex, manager } = await setup();
        await manager.replacePluginConfiguration(PLUGIN, designExample);
        const notFound = async (read: Promise<unknown>) => {
          const error = await caught(read);
          expect(error).toBeInstanceOf(NotFoundError);
          expect(error.message).toBe(`No plugin with id '${PLUGIN}'`);
        };

        // Not kept yet: the first read is another tenant's.
        const { manager: fresh } = await createManager(knex);
        await notFound(
          fresh.getEffectiveConfiguration(PLUGIN, 'production', {
            scope: OTHER_TENANT,
          }),
        );
        await expect(
          fresh.getEffectiveConfiguration(PLUGIN, 'production', {
            scope: OWN_TENANT,
          }),
        ).resolves.toMatchObject({ pluginId: PLUGIN });

        // Kept: every read still checks the caller's tenant.
        await manager.getEffectiveConfiguration(PLUGIN, 'production');
        const queries = watchQueries(knex);
        try {
          for (const scope of [OTHER_TENANT, { tenants: [] }]) {
            await notFound(
              manager.getEffectiveConfiguration(PLUGIN, 'production', {
                scope,
              }),
            );
            await notFound(
              manager.getEffectiveConfiguration(PLUGIN, 'production', {
                scope,
                at: new Date().toISOString(),
              }),
            );
            await notFound(
              manager.waitForChange(PLUGIN, 'production', {
                afterRevision: 0,
                scope,
              }),
            );
            await notFound(
              manager.listVersions(PLUGIN, 'production', { scope }),
            );
            await notFound(
              manager.getVersion(PLUGIN, 'production', 1, { scope }),
            );
            await notFound(
              manager.diffVersions(PLUGIN, 'production', 1, 1, { scope }),
            );
          }
          // Decided on the kept record, and nothing of it was read.
          expect(queries.plugins()).toBe(0);
          expect(queries.configuration()).toBe(0);
        } finally {
          queries.stop();
        }
        await expect(
          manager.getEffectiveConfiguration(PLUGIN, 'production', {
            scope: OWN_TENANT,
          }),
        ).resolves.toMatchObject({ pluginId: PLUGIN });
      });

      it('does not keep a plugin that does not exist', async () => {
        const { plugins, manager } = await setup();
        for (let i = 0; i < 2; i++) {
          expect(
            await caught(manager.getEffectiveConfiguration('later', 'staging')),
          ).toBeInstanceOf(NotFoundError);
        }
        await plugins.create({ id: 'later', tenant: 't', runtime: 'process' });
        await expect(
          manager.getEffectiveConfiguration('later', 'staging'),
        ).resolves.toMatchObject({ pluginId: 'later', entries: [] });
      });

      it('looks the plugin up again after an install, uninstall or tenant move here', async () => {
        const { knex, plugins, manager, events } = await setup();
        const machine = LifecycleStateMachine.create({
          store: plugins,
          events,
        });
        await manager.getEffectiveConfiguration(PLUGIN, 'production');
        const queries = watchQueries(knex);
        try {
          let plugin = (await plugins.get(PLUGIN))!;
          const steps = [
            // Moved to tenant 'u' with the install.
            { to: 'installing', patch: { tenant: 'u' } },
            { to: 'installed' },
            { to: 'uninstalling' },
            { to: 'inactive' },
          ] as const;
          for (const step of steps) {
            plugin = await machine.transition(plugin, step.to, {
              action: 'test',
              patch: 'patch' in step ? step.patch : undefined,
            });
            queries.reset();
            await manager.getEffectiveConfiguration(PLUGIN, 'production');
            await manager.getEffectiveConfiguration(PLUGIN, 'production');
            // Looked up once after the change, then kept again.
            expect(queries.plugins()).toBe(1);
            expect(
              await caught(
                manager.getEffectiveConfiguration(PLUGIN, 'production', {
                  scope: OWN_TENANT,
                }),
              ),
            ).toBeInstanceOf(NotFoundError);
            await expect(
              manager.getEffectiveConfiguration(PLUGIN, 'production', {
                scope: OTHER_TENANT,
              }),
            ).resolves.toMatchObject({ pluginId: PLUGIN });
          }
        } finally {
          queries.stop();
        }
      });

      it('sees a change made elsewhere within the time limit, or at once when told', async () => {
        let now = 1_000_000;
        const { knex, plugins } = await createDatabase();
        const { manager } = await createManager(knex, {
          now: () => now,
          pluginCacheTtlMs: 5_000,
        });
        const read = (scope: { tenants: string[] }) =>
          manager.getEffectiveConfiguration(PLUGIN, 'production', { scope });
        await read(OWN_TENANT);

        // Another replica moves the plugin to tenant 'u': no event here.
        await plugins.change(PLUGIN, () => ({ tenant: 'u' }));
        now += 4_999;
        await expect(read(OWN_TENANT)).resolves.toMatchObject({
          pluginId: PLUGIN,
        });
        now += 1;
        expect(await caught(read(OWN_TENANT))).toBeInstanceOf(NotFoundError);
        await expect(read(OTHER_TENANT)).resolves.toMatchObject({
          pluginId: PLUGIN,
        });

        // A change on this replica outside the state machine: told at once.
        await plugins.change(PLUGIN, () => ({ tenant: 't' }));
        manager.forgetPlugin(PLUGIN);
        expect(await caught(read(OTHER_TENANT))).toBeInstanceOf(NotFoundError);
        await expect(read(OWN_TENANT)).resolves.toMatchObject({
          pluginId: PLUGIN,
        });

        // Removed elsewhere: not found once the time limit has passed.
        await knex('plugins').where({ id: PLUGIN }).delete();
        now += 5_000;
        expect(await caught(read(OWN_TENANT))).toBeInstanceOf(NotFoundError);
      });
    });

    it('never stores, logs or announces a secret in plaintext', async () => {
      const { knex } = await createDatabase();
      const logger = new CapturingLogger();
      const events = new SystemEvents();
      const announced: unknown[] = [];
      events.on('systemEvent', e => announced.push(e));
      const { manager } = await createManager(knex, { logger, events });

      schema = {
        type: 'object',
        properties: { 'db.password': { type: 'string', maxLength: 5 } },
      };
      const invalid = await caught(
        manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'db.password', value: CANARY, type: 'secret' }],
          { environment: 'base' },
        ),
      );
      expect(invalid).toBeInstanceOf(InputError);
      expect(invalid.message).not.toContain(CANARY);
      schema = undefined;
      const typeError = await caught(
        manager.replacePluginConfiguration(PLUGIN, [
          { key: 'port', value: CANARY, type: 'number', sensitive: true },
        ]),
      );
      expect(typeError).toBeInstanceOf(InputError);
      expect(typeError.message).not.toContain(CANARY);

      const watched = recorder<EffectiveConfiguration>();
      manager.watchConfiguration(PLUGIN, 'production', undefined, c =>
        watched.push(c),
      );
      await manager.resolve(PLUGIN, 'production');
      // Each write is waited for at the watcher before the next: a write
      // that landed while the watcher's previous change was being read would
      // reach it together with that one (a watcher gets the newest state),
      // and the test would wait forever for a call that does not come.
      const newest = () => watched.items[watched.items.length - 1];
      const delivered = async (write: { version: { revision: number } }) => {
        while ((newest()?.revision ?? 0) < write.version.revision) {
          await watched.nth(watched.items.length + 1);
        }
      };

      const w1 = await manager.replacePluginConfiguration(
        PLUGIN,
        [
          { key: 'db.password', value: CANARY, type: 'secret' },
          { key: 'db.user', value: 'app', type: 'string' },
        ],
        { environment: 'base', userId: 'admin', description: 'base secrets' },
      );
      await delivered(w1);
      const w2 = await manager.replacePluginConfiguration(
        PLUGIN,
        [
          {
            key: 'api.token',
            value: `${CANARY}-token`,
            type: 'string',
            sensitive: true,
          },
          {
            key: 'api.settings',
            value: { nested: CANARY },
            type: 'json',
            sensitive: true,
          },
          {
            key: 'signing.key',
            value: `${CANARY}-signing`,
            type: 'secret',
            rotateAt: '2020-01-01T00:00:00.000Z',
          },
        ],
        { userId: 'admin' },
      );
      await delivered(w2);
      const w3 = await manager.replacePluginConfiguration(PLUGIN, [
        { key: 'api.token', value: MASK, type: 'string', sensitive: true },
        { key: 'signing.key', value: 'rotated-value', type: 'secret' },
      ]);
      await delivered(w3);
      // One call per write, each with that write's state.
      expect(watched.items.map(c => c.revision)).toEqual(
        [w1, w2, w3].map(w => w.version.revision),
      );

      // Sanity: the canary was stored and can be revealed.
      const revealed = await manager.getVersion(PLUGIN, 'production', 1, {
        reveal: true,
      });
      expect(JSON.stringify(revealed)).toContain(CANARY);

      const maintenance = new ConfigMaintenance({
        store: manager.store,
        keyRing: manager.keyRing,
        events,
        logger,
      });
      expect(await maintenance.run(new Date())).toEqual({
        resealed: 0,
        due: 0,
      });

      const reads = [
        await manager.getEffectiveConfiguration(PLUGIN, 'production'),
        await manager.getEffectiveConfiguration(PLUGIN, 'development'),
        await manager.getEffectiveConfiguration(PLUGIN, 'production', {
          at: new Date().toISOString(),
        }),
        await manager.getVersion(PLUGIN, 'production', 1),
        await manager.getVersion(PLUGIN, 'base', 1),
        await manager.listVersions(PLUGIN, 'production'),
        await manager.diffVersions(PLUGIN, 'production', 1, 2),
        await manager.waitForChange(PLUGIN, 'production', {
          afterRevision: 0,
        }),
        await exportConfiguration(manager, undefined),
        watched.items,
      ];
      for (const read of reads) {
        expect(JSON.stringify(read)).not.toContain(CANARY);
      }

      const { manager: rotating } = await createManager(knex, {
        keys: [KEY_A, KEY_B],
        logger,
        events,
      });
      expect(
        await new ConfigMaintenance({
          store: rotating.store,
          keyRing: rotating.keyRing,
          events,
          logger,
        }).reseal(),
      ).toBeGreaterThan(0);

      const afterReseal = [
        await rotating.getEffectiveConfiguration(PLUGIN, 'production'),
        await rotating.getVersion(PLUGIN, 'production', 1),
        await rotating.diffVersions(PLUGIN, 'production', 1, 2),
        await exportConfiguration(rotating, undefined),
      ];
      expect(JSON.stringify(afterReseal)).not.toContain(CANARY);

      const rows = {
        config_versions: await knex('config_versions').select('*'),
        config_rotation_notices: await knex('config_rotation_notices').select(
          '*',
        ),
        plugins: await knex('plugins').select('*'),
        plugin_instances: await knex('plugin_instances').select('*'),
      };
      expect(rows.config_versions.length).toBeGreaterThan(0);
      expect(JSON.stringify(rows)).not.toContain(CANARY);
      expect(JSON.stringify(logger.lines)).not.toContain(CANARY);
      expect(announced.length).toBeGreaterThan(0);
      expect(JSON.stringify(announced)).not.toContain(CANARY);
    });

    describe('encryption keys', () => {
      async function writeSecrets(manager: ConfigurationManager) {
        await manager.replacePluginConfiguration(
          PLUGIN,
          [
            { key: 'db.password', value: 'base-pw', type: 'secret' },
            { key: 'db.user', value: 'app', type: 'string' },
          ],
          { environment: 'base' },
        );
        await manager.replacePluginConfiguration(PLUGIN, designExample);
        await manager.replacePluginConfiguration(PLUGIN, [
          { key: 'api.key', value: 'newer-api-key', type: 'secret' },
        ]);
        await manager.replacePluginConfiguration(
          PLUGIN,
          [{ key: 'only.plain', value: 1, type: 'number' }],
          { environment: 'staging' },
        );
      }

      async function everySecret(manager: ConfigurationManager) {
        return {
          prod: values(
            await manager.getEffectiveConfiguration(PLUGIN, 'production', {
              reveal: true,
            }),
          ),
          prod1: values(
            await manager.getVersion(PLUGIN, 'production', 1, {
              reveal: true,
            }),
          ),
        };
      }

      it('re-seals secrets under a new key and then works without the old one', async () => {
        const { knex } = await createDatabase();
        const { manager: first } = await createManager(knex, {
          keys: [KEY_A],
        });
        await writeSecrets(first);
        const expected = await everySecret(first);
        expect(expected).toEqual({
          prod: {
            'api.key': 'newer-api-key',
            'db.password': 'base-pw',
            'db.user': 'app',
          },
          prod1: {
            'api.key': 'secret-key-value',
            'feature.enabled': true,
          },
        });

        // Another secret under the id 'a' does not open what 'a' sealed.
        const wrongA = await caught(
          createManager(knex, {
            keys: [{ id: 'a', secret: randomBytes(32).toString('base64') }],
          }),
        );
        expect(wrongA.message).toMatch(
          /key 'a' does not open the secrets stored with it/,
        );

        const events = new SystemEvents();
        const { manager: both } = await createManager(knex, {
          keys: [KEY_A, KEY_B],
          activeKeyId: 'b',
          events,
        });
        expect(await everySecret(both)).toEqual(expected);
        const maintenance = new ConfigMaintenance({
          store: both.store,
          keyRing: both.keyRing,
          events,
          logger: mockServices.logger.mock(),
        });
        const count = await maintenance.reseal();
        expect(count).toBe(3);
        expect(await maintenance.reseal()).toBe(0);

        const rows = await knex('config_versions').select('key_ids', 'entries');
        const sealedRows = rows.filter(r => r.key_ids !== null);
        expect(sealedRows).toHaveLength(3);
        expect(sealedRows.map(r => r.key_ids)).toEqual(['b', 'b', 'b']);
        const kids = sealedRows.flatMap(r =>
          (JSON.parse(r.entries) as Array<{ value: unknown }>)
            .map(e => e.value)
            .filter(SecretKeyRing.isSealed)
            .map(v => v.kid),
        );
        expect(kids).toEqual(['b', 'b', 'b']);
        expect(rows.filter(r => r.key_ids === null)).toHaveLength(1);

        const { manager: onlyB } = await createManager(knex, {
          keys: [KEY_B],
        });
        expect(await everySecret(onlyB)).toEqual(expected);
        const diff = await onlyB.diffVersions(PLUGIN, 'production', 1, 2);
        expect(diff.changed.map(c => c.key)).toEqual(['api.key']);

        const onlyA = await caught(createManager(knex, { keys: [KEY_A] }));
        expect(onlyA).toBeInstanceOf(Error);
        expect(onlyA.message).toMatch(/sealed with key\(s\) 'b'/);

        const wrongB = await caught(
          createManager(knex, {
            keys: [{ id: 'b', secret: randomBytes(32).toString('base64') }],
          }),
        );
        expect(wrongB.message).toMatch(
          /key 'b' does not open the secrets stored with it/,
        );
      });

      it('does not open a secret whose stored type was changed (attack: unmask by editing the row)', async () => {
        const { knex } = await createDatabase();
        const { manager: writer } = await createManager(knex);
        await writer.replacePluginConfiguration(PLUGIN, [
          { key: 'db.password', value: 'hunter2', type: 'secret' },
        ]);
        const [row] = await knex('config_versions').select(
          'revision',
          'entries',
        );
        const entries = JSON.parse(row.entries);
        expect(entries[0].value).toMatchObject({ v: 2, kid: 'a' });
        // Someone with write access to the table relabels the secret as a
        // plain string, which the API would show without a mask.
        entries[0].type = 'string';
        await knex('config_versions')
          .where({ revision: row.revision })
          .update({ entries: JSON.stringify(entries) });

        // The backend's start-up check opens a stored secret per key, so it
        // already refuses; either way nothing shows the value.
        const read = async () => {
          const { manager } = await createManager(knex);
          return manager.getEffectiveConfiguration(PLUGIN, 'production');
        };
        const error = await caught(read());
        expect(error.message).toMatch(
          /does not open the secrets stored with it|authentication failed/,
        );
        expect(error.message).not.toContain('hunter2');

        // Dropping the format number does not fall back to the old context.
        delete entries[0].value.v;
        entries[0].type = 'secret';
        await knex('config_versions')
          .where({ revision: row.revision })
          .update({ entries: JSON.stringify(entries) });
        expect((await caught(read())).message).toMatch(
          /does not open the secrets stored with it|authentication failed/,
        );
      });

      it('still opens secrets sealed in the first format, and re-seals them in the current one, then under a new key', async () => {
        const { knex } = await createDatabase();
        const { manager: writer } = await createManager(knex);
        await writer.replacePluginConfiguration(PLUGIN, [
          { key: 'db.password', value: 'placeholder', type: 'secret' },
        ]);
        // A format 1 envelope, as older backends wrote it: no `v`, and the
        // context without the entry's metadata.
        const legacy = SecretKeyRing.create({ keys: [KEY_A] }).seal(
          JSON.stringify('old-pw'),
          sealContext(
            PLUGIN,
            'production',
            { key: 'db.password', type: 'secret' },
            1,
          ),
        );
        delete legacy.v;
        const [row] = await knex('config_versions').select(
          'revision',
          'entries',
        );
        const entries = JSON.parse(row.entries);
        entries[0].value = legacy;
        await knex('config_versions')
          .where({ revision: row.revision })
          .update({ entries: JSON.stringify(entries) });

        // Re-sealed in the current format under the same key.
        const { manager: sameKey } = await createManager(knex);
        const upgrade = new ConfigMaintenance({
          store: sameKey.store,
          keyRing: sameKey.keyRing,
          events: new SystemEvents(),
          logger: mockServices.logger.mock(),
        });
        expect(await upgrade.reseal()).toBe(1);
        expect(await upgrade.reseal()).toBe(0);
        const [upgraded] = await knex('config_versions').select('entries');
        expect(JSON.parse(upgraded.entries)[0].value).toMatchObject({
          v: 2,
          kid: 'a',
        });

        const { manager: reader } = await createManager(knex, {
          keys: [KEY_A, KEY_B],
          activeKeyId: 'b',
        });
        expect(
          values(
            await reader.getEffectiveConfiguration(PLUGIN, 'production', {
              reveal: true,
            }),
          ),
        ).toEqual({ 'db.password': 'old-pw' });
        const maintenance = new ConfigMaintenance({
          store: reader.store,
          keyRing: reader.keyRing,
          events: new SystemEvents(),
          logger: mockServices.logger.mock(),
        });
        expect(await maintenance.reseal()).toBe(1);
        const [after] = await knex('config_versions').select('entries');
        expect(JSON.parse(after.entries)[0].value).toMatchObject({
          v: 2,
          kid: 'b',
        });
        const { manager: onlyB } = await createManager(knex, { keys: [KEY_B] });
        expect(
          values(
            await onlyB.getEffectiveConfiguration(PLUGIN, 'production', {
              reveal: true,
            }),
          ),
        ).toEqual({ 'db.password': 'old-pw' });
      });

      it('announces a secret due for rotation once', async () => {
        const { knex } = await createDatabase();
        const events = new SystemEvents();
        const { manager } = await createManager(knex, { events });
        const due = recorder<any>();
        events.on('configurationManager:secretRotationDue', p => due.push(p));

        await manager.replacePluginConfiguration(PLUGIN, [
          {
            key: 'old.secret',
            value: 'o',
            type: 'secret',
            rotateAt: '2020-01-01T00:00:00.000Z',
          },
          {
            key: 'fresh.secret',
            value: 'f',
            type: 'secret',
            rotateAt: '2999-01-01T00:00:00.000Z',
          },
        ]);
        const maintenance = new ConfigMaintenance({
          store: manager.store,
          keyRing: manager.keyRing,
          events,
          logger: mockServices.logger.mock(),
        });
        expect(await maintenance.announceDueRotations(new Date())).toBe(1);
        expect(due.items).toEqual([
          {
            pluginId: PLUGIN,
            layer: 'production',
            key: 'old.secret',
            rotateAt: '2020-01-01T00:00:00.000Z',
            version: 1,
          },
        ]);
        expect(await maintenance.announceDueRotations(new Date())).toBe(0);
        expect(due.items).toHaveLength(1);

        // Rotated, with a new date that passes as well: announced again.
        await manager.replacePluginConfiguration(PLUGIN, [
          {
            key: 'old.secret',
            value: 'o2',
            type: 'secret',
            rotateAt: '2021-01-01T00:00:00.000Z',
          },
          { key: 'fresh.secret', value: MASK, type: 'secret' },
        ]);
        expect(await maintenance.run(new Date())).toEqual({
          resealed: 0,
          due: 1,
        });
        expect(due.items[1]).toMatchObject({
          key: 'old.secret',
          rotateAt: '2021-01-01T00:00:00.000Z',
          version: 2,
        });
        expect(
          await maintenance.announceDueRotations(new Date('3000-01-01')),
        ).toBe(0);
      });
    });

    describe('export and import', () => {
      async function exported() {
        const { knex, manager } = await setup();
        await manager.replacePluginConfiguration(
          PLUGIN,
          [
            { key: 'db.password', value: 'base-pw', type: 'secret' },
            { key: 'shared', value: { a: [1, 2] }, type: 'json' },
          ],
          { environment: 'base', description: 'base' },
        );
        await manager.replacePluginConfiguration(PLUGIN, designExample, {
          userId: 'admin',
        });
        await manager.replacePluginConfiguration(PLUGIN, [
          { key: 'api.key', value: 'newer-api-key', type: 'secret' },
          { key: 'feature.enabled', value: false, type: 'boolean' },
        ]);
        const doc = await exportConfiguration(manager, undefined);
        // As it travels: JSON.
        return {
          source: manager,
          knex,
          doc: JSON.parse(JSON.stringify(doc)),
        };
      }

      async function freshTarget() {
        const { knex, plugins } = await createDatabase();
        const { manager } = await createManager(knex);
        const findPlugin = (id: string) => plugins.get(id);
        return { manager, findPlugin };
      }

      it('restores an export into another database', async () => {
        const { source, doc } = await exported();
        expect(doc.versions).toHaveLength(3);
        expect(JSON.stringify(doc)).not.toContain('newer-api-key');

        const target = await freshTarget();
        const result = await importConfiguration(target.manager, doc, {
          userId: 'restorer',
          findPlugin: target.findPlugin,
        });
        expect(result.skipped).toEqual([]);
        expect(
          result.restored.sort((a, b) => a.layer.localeCompare(b.layer)),
        ).toEqual([
          { pluginId: PLUGIN, layer: 'base', version: 1 },
          { pluginId: PLUGIN, layer: 'production', version: 1 },
        ]);

        const want = await source.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { reveal: true },
        );
        const got = await target.manager.getEffectiveConfiguration(
          PLUGIN,
          'production',
          { reveal: true },
        );
        expect(values(got)).toEqual(values(want));
        expect(values(got)['api.key']).toBe('newer-api-key');
        expect(values(got)['db.password']).toBe('base-pw');
        const [restored] = await target.manager.listVersions(
          PLUGIN,
          'production',
        );
        expect(restored).toMatchObject({ version: 1, author: 'restorer' });

        const again = await importConfiguration(target.manager, doc, {
          findPlugin: target.findPlugin,
        });
        expect(again.restored).toEqual([]);
        expect(again.skipped.map(s => [s.layer, s.reason]).sort()).toEqual([
          ['base', 'unchanged'],
          ['production', 'unchanged'],
        ]);
        expect(
          await target.manager.listVersions(PLUGIN, 'production'),
        ).toHaveLength(1);
      });

      it('skips plugins the target does not have', async () => {
        const { doc } = await exported();
        const { knex, plugins } = await createDatabase([]);
        const { manager } = await createManager(knex);
        const result = await importConfiguration(manager, doc, {
          findPlugin: id => plugins.get(id),
        });
        expect(result.restored).toEqual([]);
        expect(result.skipped.map(s => s.reason)).toEqual([
          'no such plugin',
          'no such plugin',
        ]);
      });

      it('refuses a changed document or an unknown signing key', async () => {
        const { doc } = await exported();
        const target = await freshTarget();
        const attempt = (d: unknown) =>
          caught(
            importConfiguration(target.manager, d, {
              findPlugin: target.findPlugin,
            }),
          );

        const changedValue = structuredClone(doc);
        const entry = changedValue.versions
          .flatMap((v: any) => v.entries)
          .find((e: any) => e.key === 'feature.enabled');
        entry.value = !entry.value;
        const e1 = await attempt(changedValue);
        expect(e1).toBeInstanceOf(InputError);
        expect(e1.message).toMatch(/signature/);

        const changedDescription = structuredClone(doc);
        changedDescription.versions[0].description = 'not what was exported';
        const e2 = await attempt(changedDescription);
        expect(e2).toBeInstanceOf(InputError);
        expect(e2.message).toMatch(/signature/);

        const otherKey = structuredClone(doc);
        otherKey.signature.kid = 'zz';
        const e3 = await attempt(otherKey);
        expect(e3).toBeInstanceOf(InputError);
        expect(e3.message).toMatch(/'zz'/);

        const notAnExport = await attempt({ format: 'something else' });
        expect(notAnExport).toBeInstanceOf(InputError);

        expect(await target.manager.listVersions(PLUGIN, 'production')).toEqual(
          [],
        );
        expect(await target.manager.listVersions(PLUGIN, 'base')).toEqual([]);

        // The same key id with another secret cannot verify it either.
        const { knex, plugins } = await createDatabase();
        const { manager: otherSecret } = await createManager(knex, {
          keys: [{ id: 'a', secret: randomBytes(32).toString('base64') }],
        });
        const e4 = await caught(
          importConfiguration(otherSecret, doc, {
            findPlugin: id => plugins.get(id),
          }),
        );
        expect(e4).toBeInstanceOf(InputError);
        expect(e4.message).toMatch(/signature/);
      });
    });
  },
);
