import { ConflictError } from '@backstage/errors';
import { createTestDatabases } from '../__testUtils__/databases';
import { ConfigStore, StoredConfigEntry } from './ConfigStore';
import { applyDatabaseMigrations } from './migrations';
import { PluginStore } from './PluginStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();

/** A stand-in for a sealed envelope (format 2): the store never opens them. */
function sealed(kid: string, ct = 'Y3Q='): StoredConfigEntry['value'] {
  return { $sealed: 'aes-256-gcm', v: 2, kid, iv: 'aXY=', tag: 'dGFn', ct };
}

function entry(key: string, value: unknown): StoredConfigEntry {
  return { key, value, type: 'string' };
}

function secret(key: string, kid: string, rotateAt?: string) {
  const e: StoredConfigEntry = { key, value: sealed(kid), type: 'secret' };
  if (rotateAt) e.rotateAt = rotateAt;
  return e;
}

const pause = (ms: number) => new Promise(r => setTimeout(r, ms));

describe.each(databases.eachSupportedId())('ConfigStore on %s', databaseId => {
  async function createStore() {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const plugins = PluginStore.create({ db: knex });
    await plugins.create({ id: 'p1', tenant: 't', runtime: 'process' });
    await plugins.create({ id: 'p2', tenant: 't', runtime: 'process' });
    return { knex, store: ConfigStore.create({ db: knex }) };
  }

  it('numbers versions per plugin and layer from 1', async () => {
    const { store } = await createStore();
    const a1 = await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [entry('x', '1')],
      keyIds: [],
      author: 'alice',
      description: 'first',
    });
    const a2 = await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [entry('x', '2')],
      keyIds: [],
    });
    const b1 = await store.append({
      pluginId: 'p1',
      layer: 'production',
      entries: [],
      keyIds: [],
    });
    const c1 = await store.append({
      pluginId: 'p2',
      layer: 'base',
      entries: [],
      keyIds: [],
    });

    expect([a1.version, a2.version, b1.version, c1.version]).toEqual([
      1, 2, 1, 1,
    ]);
    expect(a2.revision).toBeGreaterThan(a1.revision);
    expect(b1.revision).toBeGreaterThan(a2.revision);
    expect(c1.revision).toBeGreaterThan(b1.revision);
    expect(a1).toMatchObject({
      pluginId: 'p1',
      layer: 'base',
      author: 'alice',
      description: 'first',
      keyIds: [],
      entries: [entry('x', '1')],
    });
    expect(typeof a1.revision).toBe('number');
    expect(await store.get('p1', 'base', 1)).toEqual(a1);
    expect(await store.get('p1', 'base', 3)).toBeUndefined();
    expect(await store.latestVersionNumber('p1', 'base')).toBe(2);
    expect(await store.latestVersionNumber('p1', 'staging')).toBe(0);
    expect(await store.maxRevision()).toBe(c1.revision);
  });

  it('stores sorted, distinct key ids and the rollback origin', async () => {
    const { store } = await createStore();
    const v = await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [secret('s1', 'b'), secret('s2', 'a'), secret('s3', 'b')],
      keyIds: ['b', 'a', 'b'],
      rolledBackFrom: 7,
    });
    expect(v.keyIds).toEqual(['a', 'b']);
    expect(await store.get('p1', 'base', 1)).toMatchObject({
      keyIds: ['a', 'b'],
      rolledBackFrom: 7,
    });
  });

  it('refuses a stale expectedVersion without storing anything', async () => {
    const { store } = await createStore();
    await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [entry('x', '1')],
      keyIds: [],
      expectedVersion: 0,
    });
    await expect(
      store.append({
        pluginId: 'p1',
        layer: 'base',
        entries: [entry('x', 'stale')],
        keyIds: [],
        expectedVersion: 0,
      }),
    ).rejects.toThrow(ConflictError);
    await expect(
      store.append({
        pluginId: 'p1',
        layer: 'base',
        entries: [entry('x', 'ahead')],
        keyIds: [],
        expectedVersion: 2,
      }),
    ).rejects.toThrow(ConflictError);
    expect((await store.list('p1', 'base')).map(v => v.version)).toEqual([1]);
    expect((await store.latest('p1', 'base'))!.entries).toEqual([
      entry('x', '1'),
    ]);

    const next = await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [entry('x', '2')],
      keyIds: [],
      expectedVersion: 1,
    });
    expect(next.version).toBe(2);
  });

  it('gives concurrent appends distinct versions', async () => {
    const { store } = await createStore();
    const written = await Promise.all(
      [1, 2, 3, 4, 5].map(i =>
        store.append({
          pluginId: 'p1',
          layer: 'production',
          entries: [entry('writer', String(i))],
          keyIds: [],
        }),
      ),
    );
    expect(written.map(v => v.version).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(written.map(v => v.revision)).size).toBe(5);
    const listed = await store.list('p1', 'production');
    expect(listed.map(v => v.version)).toEqual([5, 4, 3, 2, 1]);
    expect(listed.map(v => v.entries[0].value).sort()).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
    ]);
  });

  it('reads the latest version as of a time or a revision', async () => {
    const { store } = await createStore();
    const before = new Date().toISOString();
    await pause(20);
    const v1 = await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [entry('x', '1')],
      keyIds: [],
    });
    await pause(20);
    const between = new Date().toISOString();
    await pause(20);
    const v2 = await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [entry('x', '2')],
      keyIds: [],
    });
    // Another layer's write moves the global revision on.
    const other = await store.append({
      pluginId: 'p1',
      layer: 'production',
      entries: [],
      keyIds: [],
    });

    expect((await store.latest('p1', 'base'))!.version).toBe(2);
    expect(await store.latest('p1', 'base', before)).toBeUndefined();
    expect((await store.latest('p1', 'base', between))!.version).toBe(1);
    expect(
      (await store.latest('p1', 'base', new Date().toISOString()))!.version,
    ).toBe(2);
    expect(
      (await store.latest('p1', 'base', undefined, v1.revision))!.version,
    ).toBe(1);
    expect(
      (await store.latest('p1', 'base', undefined, v2.revision - 1))!.version,
    ).toBe(1);
    expect(
      (await store.latest('p1', 'base', undefined, other.revision))!.version,
    ).toBe(2);
    expect(
      await store.latest('p1', 'base', undefined, v1.revision - 1),
    ).toBeUndefined();
    expect(await store.latest('p1', 'staging')).toBeUndefined();
  });

  it('lists versions newest first with their entry counts', async () => {
    const { store } = await createStore();
    for (let i = 1; i <= 3; i++) {
      await store.append({
        pluginId: 'p1',
        layer: 'base',
        entries: Array.from({ length: i }, (_, j) => entry(`k${j}`, 'v')),
        keyIds: [],
        author: `user${i}`,
      });
    }
    const listed = await store.list('p1', 'base');
    expect(
      listed.map(v => ({
        version: v.version,
        entryCount: v.entryCount,
        author: v.author,
      })),
    ).toEqual([
      { version: 3, entryCount: 3, author: 'user3' },
      { version: 2, entryCount: 2, author: 'user2' },
      { version: 1, entryCount: 1, author: 'user1' },
    ]);
    expect(await store.list('p1', 'production')).toEqual([]);
    const all = await store.listAll();
    expect(all.map(v => v.version)).toEqual([1, 2, 3]);
    expect(await store.listAll(['p2'])).toEqual([]);
  });

  it('prunes all but the newest versions of a layer', async () => {
    const { store } = await createStore();
    for (let i = 1; i <= 7; i++) {
      await store.append({
        pluginId: 'p1',
        layer: 'base',
        entries: [entry('i', String(i))],
        keyIds: [],
      });
    }
    await store.append({
      pluginId: 'p1',
      layer: 'production',
      entries: [],
      keyIds: [],
    });
    expect(await store.prune('p1', 'base', 3)).toBe(4);
    expect((await store.list('p1', 'base')).map(v => v.version)).toEqual([
      7, 6, 5,
    ]);
    expect(await store.earliestVersionNumber('p1', 'base')).toBe(5);
    expect(await store.earliestVersionNumber('p1', 'production')).toBe(1);
    expect(await store.earliestVersionNumber('p1', 'staging')).toBe(0);
    expect(await store.prune('p1', 'base', 3)).toBe(0);
    expect(await store.prune('p1', 'production', 3)).toBe(0);
    expect(await store.list('p1', 'production')).toHaveLength(1);
    // Numbering goes on after pruning.
    const next = await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [],
      keyIds: [],
    });
    expect(next.version).toBe(8);
  });

  it('reads changes after a revision, oldest first', async () => {
    const { store } = await createStore();
    const writes = [
      ['p1', 'base'],
      ['p2', 'production'],
      ['p1', 'base'],
      ['p1', 'staging'],
    ];
    const versions = [];
    for (const [pluginId, layer] of writes) {
      versions.push(
        await store.append({ pluginId, layer, entries: [], keyIds: [] }),
      );
    }
    const all = await store.changesSince(0);
    expect(all).toEqual(
      versions.map(v => ({
        revision: v.revision,
        pluginId: v.pluginId,
        layer: v.layer,
        version: v.version,
      })),
    );
    expect(all.map(c => c.version)).toEqual([1, 1, 2, 1]);
    expect(await store.changesSince(versions[1].revision)).toEqual(
      all.slice(2),
    );
    expect(await store.changesSince(versions[0].revision, 2)).toEqual(
      all.slice(1, 3),
    );
    expect(await store.changesSince(versions[3].revision)).toEqual([]);
  });

  it('tells which keys seal stored secrets', async () => {
    const { store } = await createStore();
    expect((await store.keyIdsInUse()).size).toBe(0);
    await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [entry('plain', 'x')],
      keyIds: [],
    });
    await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [secret('s', 'a')],
      keyIds: ['a'],
    });
    const mixed = await store.append({
      pluginId: 'p2',
      layer: 'production',
      entries: [secret('s', 'a'), secret('t', 'b')],
      keyIds: ['a', 'b'],
    });
    const inUse = await store.keyIdsInUse();
    expect([...inUse.keys()].sort()).toEqual(['a', 'b']);
    // The newest version sealed with each key.
    expect(inUse.get('a')!.revision).toBe(mixed.revision);
    expect(inUse.get('b')!.revision).toBe(mixed.revision);
  });

  it('lists versions sealed with other keys and re-seals them once', async () => {
    const { store, knex } = await createStore();
    await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [entry('plain', 'x')],
      keyIds: [],
    });
    const onA = await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [entry('plain', 'x'), secret('s', 'a')],
      keyIds: ['a'],
    });
    const onB = await store.append({
      pluginId: 'p1',
      layer: 'production',
      entries: [secret('s', 'b')],
      keyIds: ['b'],
    });
    const mixed = await store.append({
      pluginId: 'p2',
      layer: 'base',
      entries: [secret('s', 'a'), secret('t', 'b')],
      keyIds: ['a', 'b'],
    });

    const stale = await store.listSealedWithOtherKeys('b');
    expect(stale.map(v => v.revision)).toEqual([onA.revision, mixed.revision]);
    expect(
      (await store.listSealedWithOtherKeys('b', 1)).map(v => v.revision),
    ).toEqual([onA.revision]);
    expect(
      (await store.listSealedWithOtherKeys('a')).map(v => v.revision),
    ).toEqual([onB.revision, mixed.revision]);

    const [first, second] = stale;
    const resealedEntries = [entry('plain', 'x'), secret('s', 'b')];
    expect(await store.resealed(first, resealedEntries, ['b'])).toBe(true);
    // A second writer that read the same row: the key ids changed meanwhile.
    expect(await store.resealed(first, resealedEntries, ['b'])).toBe(false);
    expect(
      await store.resealed(
        second,
        [secret('s', 'b', undefined), secret('t', 'b')],
        ['b', 'b'],
      ),
    ).toBe(true);
    expect(await store.listSealedWithOtherKeys('b')).toEqual([]);

    const reread = await store.get('p1', 'base', onA.version);
    expect(reread).toMatchObject({
      version: onA.version,
      revision: onA.revision,
      keyIds: ['b'],
      entries: resealedEntries,
      createdAt: onA.createdAt,
    });
    const rows = await knex('config_versions')
      .whereNotNull('key_ids')
      .select('key_ids');
    expect(rows.map(r => r.key_ids)).toEqual(['b', 'b', 'b']);
  });

  it('lists versions with a first-format envelope under the active key, for re-sealing in the current format', async () => {
    const { store } = await createStore();
    await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [secret('s', 'b')],
      keyIds: ['b'],
    });
    const firstFormat = await store.append({
      pluginId: 'p1',
      layer: 'production',
      entries: [
        {
          key: 's',
          type: 'secret',
          // As backends before format 2 wrote it: no `v`.
          value: {
            $sealed: 'aes-256-gcm',
            kid: 'b',
            iv: 'aXY=',
            tag: 'dGFn',
            ct: 'Y3Q=',
          },
        },
      ],
      keyIds: ['b'],
    });
    expect(
      (await store.listSealedWithOtherKeys('b')).map(v => v.revision),
    ).toEqual([firstFormat.revision]);
    expect(await store.resealed(firstFormat, [secret('s', 'b')], ['b'])).toBe(
      true,
    );
    expect(await store.listSealedWithOtherKeys('b')).toEqual([]);
  });

  it('records a rotation notice once', async () => {
    const { store } = await createStore();
    const notice = {
      pluginId: 'p1',
      layer: 'production',
      key: 'api.key',
      dueAt: '2020-01-01T00:00:00.000Z',
    };
    expect(await store.markRotationNotified(notice)).toBe(true);
    expect(await store.markRotationNotified(notice)).toBe(false);
    expect(
      await store.markRotationNotified({
        ...notice,
        dueAt: '2021-01-01T00:00:00.000Z',
      }),
    ).toBe(true);
    expect(await store.markRotationNotified({ ...notice, layer: 'base' })).toBe(
      true,
    );
  });

  it('finds the latest versions that have rotation dates', async () => {
    const { store } = await createStore();
    const due = '2020-01-01T00:00:00.000Z';
    // p1/base had a rotation date, then lost it: not listed.
    await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [secret('s', 'a', due)],
      keyIds: ['a'],
    });
    await store.append({
      pluginId: 'p1',
      layer: 'base',
      entries: [secret('s', 'a')],
      keyIds: ['a'],
    });
    // p1/production gained one in its latest version: listed.
    await store.append({
      pluginId: 'p1',
      layer: 'production',
      entries: [secret('s', 'a')],
      keyIds: ['a'],
    });
    const prod2 = await store.append({
      pluginId: 'p1',
      layer: 'production',
      entries: [secret('s', 'a', due)],
      keyIds: ['a'],
    });
    // p2/base never had one.
    await store.append({
      pluginId: 'p2',
      layer: 'base',
      entries: [entry('plain', 'x')],
      keyIds: [],
    });
    const p2staging = await store.append({
      pluginId: 'p2',
      layer: 'staging',
      entries: [secret('t', 'a', due), entry('plain', 'x')],
      keyIds: ['a'],
    });

    const found = await store.latestWithRotationDates();
    expect(found.map(v => v.revision).sort((a, b) => a - b)).toEqual([
      prod2.revision,
      p2staging.revision,
    ]);
    const prod = found.find(v => v.revision === prod2.revision)!;
    expect(prod).toMatchObject({
      pluginId: 'p1',
      layer: 'production',
      version: 2,
      keyIds: ['a'],
    });
    expect(prod.entries[0].rotateAt).toBe(due);
  });
});
