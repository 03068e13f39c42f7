import { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/databases';
import { applyDatabaseMigrations } from './migrations';
import { ServiceStore } from './ServiceStore';
import { TrafficSplitStore } from './TrafficSplitStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const AT = new Date('2026-12-04T10:00:00.000Z');

describe.each(databases.eachSupportedId())(
  'TrafficSplitStore on %s',
  databaseId => {
    let knex: Knex;

    beforeEach(async () => {
      knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
    });

    afterEach(async () => {
      await knex.destroy();
    });

    it('stores, replaces and deletes a split, logging each write as a split change', async () => {
      const store = TrafficSplitStore.create({ db: knex });
      const log = ServiceStore.create({ db: knex });
      expect(await store.list()).toEqual([]);
      const first = await store.put(
        't1',
        'billing',
        { weights: { 'stable/1.0.0': 80, 'canary/1.1.0': 20 } },
        AT,
      );
      expect(first).toEqual({
        tenant: 't1',
        serviceName: 'billing',
        weights: { 'stable/1.0.0': 80, 'canary/1.1.0': 20 },
        revision: await log.maxRevision(),
        updatedAt: AT.toISOString(),
      });
      const match = {
        subset: 'canary/1.1.0',
        header: { name: 'x-variant', value: 'B"$\\;{}' },
      };
      const second = await store.put(
        't1',
        'billing',
        { weights: { 'stable/1.0.0': 100 }, match },
        new Date(AT.getTime() + 1000),
      );
      expect(second.revision).toBeGreaterThan(first.revision);
      await store.put('t2', 'billing', { weights: { stable: 1 } }, AT);
      expect(await store.get('t1', 'billing')).toEqual({
        tenant: 't1',
        serviceName: 'billing',
        weights: { 'stable/1.0.0': 100 },
        match,
        revision: second.revision,
        updatedAt: new Date(AT.getTime() + 1000).toISOString(),
      });
      expect((await store.list()).map(s => [s.tenant, s.serviceName])).toEqual([
        ['t1', 'billing'],
        ['t2', 'billing'],
      ]);
      const changes = await log.changesSince(0);
      expect(changes.map(c => [c.serviceId, c.kind])).toEqual([
        ['t1/billing', 'split'],
        ['t1/billing', 'split'],
        ['t2/billing', 'split'],
      ]);

      const deleted = await store.delete('t1', 'billing', AT);
      expect(deleted).toBe(await log.maxRevision());
      expect(await store.get('t1', 'billing')).toBeUndefined();
      // Nothing to end: no change logged.
      expect(await store.delete('t1', 'billing', AT)).toBeUndefined();
      expect(await log.maxRevision()).toBe(deleted);
      expect((await store.list()).map(s => s.tenant)).toEqual(['t2']);
    });
  },
);
