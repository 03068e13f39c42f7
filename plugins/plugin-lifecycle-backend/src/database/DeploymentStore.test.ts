import { ConflictError, NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/databases';
import { DeploymentStore, NewDeployment } from './DeploymentStore';
import { applyDatabaseMigrations } from './migrations';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const T0 = Date.parse('2026-12-04T12:00:00.000Z');
const at = (ms: number) => new Date(ms).toISOString();

let counter = 0;
function deployment(
  pluginId: string,
  extra: Partial<NewDeployment> = {},
): NewDeployment {
  counter += 1;
  return {
    id: `dep-${counter}`,
    pluginId,
    tenant: 'default',
    strategy: 'canary',
    fromVersion: '1.0.0',
    toVersion: '1.1.0',
    config: { canary: { trafficIncrement: 25, autoPromote: true } },
    phase: 'pending',
    currentStep: 0,
    steps: [
      { kind: 'setWeight', weight: 25, index: 0, status: 'pending' },
      { kind: 'finish', index: 1, status: 'pending' },
    ],
    traffic: { '1.0.0': 100 },
    instances: { '1.0.0': ['i-1'] },
    analysis: [],
    approvals: [],
    ...extra,
  };
}

describe.each(databases.eachSupportedId())(
  'DeploymentStore on %s',
  databaseId => {
    let knex: Knex | undefined;
    let clock = T0;

    async function createStore() {
      knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex! });
      clock = T0;
      return DeploymentStore.create({ database: knex, clock: () => clock });
    }

    afterEach(async () => {
      await knex?.destroy();
      knex = undefined;
    });

    it('creates, reads and lists deployments, newest first', async () => {
      const store = await createStore();
      const first = await store.create(
        deployment('p1', {
          id: 'd-old',
          environment: 'staging',
          createdBy: 'user:default/ann',
          operationId: 'op-1',
          match: { header: { name: 'x-variant', value: 'b' } },
          stepState: { baseline: { requests: 3 } },
          nextRunAt: at(T0 + 5000),
          stepStartedAt: at(T0),
        }),
      );
      expect(first).toMatchObject({
        id: 'd-old',
        revision: 1,
        createdAt: at(T0),
        updatedAt: at(T0),
        stepState: { baseline: { requests: 3 } },
      });
      expect(first.finishedAt).toBeUndefined();
      const read = await store.getOrThrow('d-old');
      expect(read).toEqual(first);
      expect(read).toMatchObject({
        pluginId: 'p1',
        tenant: 'default',
        strategy: 'canary',
        fromVersion: '1.0.0',
        toVersion: '1.1.0',
        environment: 'staging',
        phase: 'pending',
        currentStep: 0,
        config: { canary: { trafficIncrement: 25, autoPromote: true } },
        traffic: { '1.0.0': 100 },
        instances: { '1.0.0': ['i-1'] },
        match: { header: { name: 'x-variant', value: 'b' } },
        analysis: [],
        approvals: [],
        createdBy: 'user:default/ann',
        operationId: 'op-1',
        nextRunAt: at(T0 + 5000),
        stepStartedAt: at(T0),
      });
      expect(read.steps.map(s => s.kind)).toEqual(['setWeight', 'finish']);
      expect(read.leaseOwner).toBeUndefined();
      expect(read.winner).toBeUndefined();

      // a second, terminal one of the same plugin, and one in another tenant
      clock = T0 + 1000;
      await store.create(
        deployment('p1', { id: 'd-done', phase: 'succeeded' }),
      );
      clock = T0 + 2000;
      await store.create(deployment('p2', { id: 'd-other', tenant: 'other' }));

      expect(await store.get('nope')).toBeUndefined();
      await expect(store.getOrThrow('nope')).rejects.toThrow(NotFoundError);
      expect((await store.list()).map(d => d.id)).toEqual([
        'd-other',
        'd-done',
        'd-old',
      ]);
      expect((await store.list({ pluginId: 'p1' })).map(d => d.id)).toEqual([
        'd-done',
        'd-old',
      ]);
      expect((await store.list({ active: true })).map(d => d.id)).toEqual([
        'd-other',
        'd-old',
      ]);
      expect((await store.list({ active: false })).map(d => d.id)).toEqual([
        'd-done',
      ]);
      expect((await store.list({ phase: 'succeeded' }))[0]).toMatchObject({
        id: 'd-done',
        finishedAt: at(T0 + 1000),
      });
      expect(
        (await store.list({ tenants: { tenants: ['default'] } })).map(
          d => d.id,
        ),
      ).toEqual(['d-done', 'd-old']);
      expect(await store.list({ tenants: { tenants: [] } })).toEqual([]);
      expect(await store.list({ tenants: { all: true } })).toHaveLength(3);
      expect((await store.list({ limit: 1 })).map(d => d.id)).toEqual([
        'd-other',
      ]);
      expect(
        (await store.list({ before: at(T0 + 2000) })).map(d => d.id),
      ).toEqual(['d-done', 'd-old']);
      expect((await store.activeForPlugin('p1'))?.id).toBe('d-old');
      expect(await store.activeForPlugin('p3')).toBeUndefined();
    });

    it('refuses a second active deployment of a plugin, and allows one once the first is finished', async () => {
      const store = await createStore();
      const first = await store.create(deployment('p1', { id: 'd-1' }));
      const second = store.create(deployment('p1', { id: 'd-2' }));
      await expect(second).rejects.toThrow(ConflictError);
      await expect(second).rejects.toThrow(
        "Plugin 'p1' already has an active deployment 'd-1' (canary 1.0.0 -> 1.1.0, pending)",
      );
      // the same id is a conflict too, even for another plugin
      await expect(
        store.create(deployment('p9', { id: 'd-1' })),
      ).rejects.toThrow("Deployment 'd-1' already exists");
      // other plugins are not affected
      await store.create(deployment('p2', { id: 'd-3' }));

      await store.save('d-1', first.revision, { phase: 'rolled-back' });
      const third = await store.create(deployment('p1', { id: 'd-4' }));
      expect(third.phase).toBe('pending');
      expect((await store.activeForPlugin('p1'))?.id).toBe('d-4');
      expect(await store.get('d-2')).toBeUndefined();
    });

    it('ends a deployment that never started, and only while it has not', async () => {
      const store = await createStore();
      await store.create(
        deployment('p1', { id: 'd-1', phase: 'pending', operationId: 'op-1' }),
      );
      // Another update's cancel does not end this one.
      expect(
        await store.endPending('d-1', 'failed', 'cancelled', {
          operationId: 'op-other',
        }),
      ).toBeUndefined();
      const ended = await store.endPending('d-1', 'failed', 'cancelled', {
        operationId: 'op-1',
      });
      expect(ended).toMatchObject({ phase: 'failed', message: 'cancelled' });
      expect(ended!.finishedAt).toBeDefined();
      // The plugin may have a new deployment now; an ended one stays ended.
      await store.create(deployment('p1', { id: 'd-2', phase: 'progressing' }));
      expect(await store.endPending('d-2', 'aborted', 'x')).toBeUndefined();
      expect((await store.getOrThrow('d-2')).phase).toBe('progressing');
    });

    it('of two concurrent creates for one plugin, exactly one succeeds', async () => {
      const store = await createStore();
      for (let round = 0; round < 5; round++) {
        const pluginId = `race-${round}`;
        const results = await Promise.allSettled([
          store.create(deployment(pluginId)),
          store.create(deployment(pluginId)),
        ]);
        const created = results.filter(r => r.status === 'fulfilled');
        const refused = results.filter(
          (r): r is PromiseRejectedResult => r.status === 'rejected',
        );
        expect(created).toHaveLength(1);
        expect(refused).toHaveLength(1);
        expect(refused[0].reason).toBeInstanceOf(ConflictError);
        expect(await store.list({ pluginId })).toHaveLength(1);
      }
    });

    it('claims active deployments that are due and not leased', async () => {
      const store = await createStore();
      await store.create(
        deployment('p1', { id: 'later', nextRunAt: at(T0 + 5000) }),
      );
      clock = T0 + 1;
      await store.create(
        deployment('p2', { id: 'due', nextRunAt: at(T0 - 1000) }),
      );
      clock = T0 + 2;
      await store.create(deployment('p3', { id: 'now' }));
      await store.create(deployment('p4', { id: 'done', phase: 'aborted' }));

      const claimed = await store.claimDue('a', {
        leaseMs: 10_000,
        limit: 10,
        now: new Date(T0),
      });
      // those without a time first, then by how long they have been due
      expect(claimed.map(d => d.id)).toEqual(['now', 'due']);
      expect(claimed[0]).toMatchObject({
        leaseOwner: 'a',
        leaseExpiresAt: at(T0 + 10_000),
        revision: 1,
      });
      expect(await store.get('due')).toMatchObject({ leaseOwner: 'a' });

      // leased: neither another owner nor the holder gets them again
      for (const owner of ['a', 'b']) {
        expect(
          await store.claimDue(owner, {
            leaseMs: 10_000,
            limit: 10,
            now: new Date(T0 + 1000),
          }),
        ).toEqual([]);
      }
      // once due, the later one is claimed (and only it)
      const next = await store.claimDue('b', {
        leaseMs: 10_000,
        limit: 10,
        now: new Date(T0 + 5000),
      });
      expect(next.map(d => d.id)).toEqual(['later']);

      // the limit holds; a released deployment is claimable at once
      await store.release('now', 'a');
      await store.release('due', 'b'); // not b's: stays leased
      expect(await store.get('now')).toMatchObject({ leaseOwner: undefined });
      const limited = await store.claimDue('c', {
        leaseMs: 10_000,
        limit: 1,
        now: new Date(T0 + 6000),
      });
      expect(limited.map(d => d.id)).toEqual(['now']);
      expect(await store.claimDue('c', { leaseMs: 10_000, limit: 0 })).toEqual(
        [],
      );
    });

    it('never gives one deployment to two owners claiming at the same time', async () => {
      const store = await createStore();
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        ids.push((await store.create(deployment(`p${i}`))).id);
      }
      for (let round = 0; round < 3; round++) {
        const now = new Date(T0 + round * 20_000);
        const [a, b] = await Promise.all([
          store.claimDue('a', { leaseMs: 10_000, limit: 12, now }),
          store.claimDue('b', { leaseMs: 10_000, limit: 12, now }),
        ]);
        const aIds = a.map(d => d.id);
        const bIds = b.map(d => d.id);
        expect(aIds.filter(id => bIds.includes(id))).toEqual([]);
        expect([...aIds, ...bIds].sort()).toEqual([...ids].sort());
        for (const d of a) {
          expect((await store.get(d.id))?.leaseOwner).toBe('a');
        }
        for (const d of b) {
          expect((await store.get(d.id))?.leaseOwner).toBe('b');
        }
      }
    });

    it('lets another owner take over an expired lease, and the old owner then loses its writes', async () => {
      const store = await createStore();
      await store.create(deployment('p1', { id: 'd' }));
      const [mine] = await store.claimDue('a', {
        leaseMs: 1000,
        limit: 5,
        now: new Date(T0),
      });
      expect(mine.id).toBe('d');

      // renewed in time, the lease holds past its first expiry
      clock = T0 + 900;
      expect(await store.renewLease('d', 'a', 1000)).toBe(true);
      expect(await store.get('d')).toMatchObject({
        leaseExpiresAt: at(T0 + 1900),
      });
      expect(
        await store.claimDue('b', {
          leaseMs: 1000,
          limit: 5,
          now: new Date(T0 + 1500),
        }),
      ).toEqual([]);

      // expired: b takes it over
      const [taken] = await store.claimDue('b', {
        leaseMs: 1000,
        limit: 5,
        now: new Date(T0 + 1900),
      });
      expect(taken).toMatchObject({ id: 'd', leaseOwner: 'b' });

      clock = T0 + 2000;
      expect(await store.renewLease('d', 'a', 1000)).toBe(false);
      expect(
        await store.save(
          'd',
          mine.revision,
          { phase: 'progressing' },
          { owner: 'a' },
        ),
      ).toBeUndefined();
      await store.release('d', 'a');
      expect(await store.get('d')).toMatchObject({
        phase: 'pending',
        leaseOwner: 'b',
        revision: 1,
      });

      // b, holding the lease, writes
      const saved = await store.save(
        'd',
        taken.revision,
        { phase: 'progressing', currentStep: 1 },
        { owner: 'b' },
      );
      expect(saved).toMatchObject({
        phase: 'progressing',
        revision: 2,
        leaseOwner: 'b',
      });
      // after b lets go, a write that needs b's lease is refused too
      await store.release('d', 'b');
      expect(
        await store.save('d', 2, { currentStep: 2 }, { owner: 'b' }),
      ).toBeUndefined();
      expect(await store.renewLease('d', 'b', 1000)).toBe(false);
    });

    it('saves only at the expected revision', async () => {
      const store = await createStore();
      const created = await store.create(deployment('p1', { id: 'd' }));
      clock = T0 + 100;
      const saved = await store.save('d', created.revision, {
        phase: 'progressing',
        currentStep: 1,
        traffic: { '1.0.0': 75, '1.1.0': 25 },
        stepState: { extensions: 1 },
        nextRunAt: at(T0 + 60_000),
        message: 'step 1',
      });
      expect(saved).toMatchObject({
        revision: 2,
        updatedAt: at(T0 + 100),
        createdAt: at(T0),
        phase: 'progressing',
        currentStep: 1,
        traffic: { '1.0.0': 75, '1.1.0': 25 },
        stepState: { extensions: 1 },
        nextRunAt: at(T0 + 60_000),
        message: 'step 1',
      });
      expect(await store.get('d')).toEqual(saved);

      // a stale revision loses
      expect(
        await store.save('d', created.revision, { phase: 'paused' }),
      ).toBeUndefined();
      expect(await store.save('nope', 1, { phase: 'paused' })).toBeUndefined();
      expect((await store.get('d'))?.phase).toBe('progressing');

      // undefined clears a field; JSON fields fall back to empty
      const cleared = await store.save('d', 2, {
        message: undefined,
        nextRunAt: undefined,
        stepState: undefined,
      });
      expect(cleared).toMatchObject({ revision: 3, stepState: {} });
      expect(cleared?.message).toBeUndefined();
      expect(cleared?.nextRunAt).toBeUndefined();
    });

    it('keeps active and finishedAt in step with the phase', async () => {
      const store = await createStore();
      const created = await store.create(deployment('p1', { id: 'd' }));
      const progressing = await store.save('d', created.revision, {
        phase: 'progressing',
      });
      expect(progressing?.finishedAt).toBeUndefined();
      expect((await store.activeForPlugin('p1'))?.id).toBe('d');

      clock = T0 + 1000;
      const failed = await store.save('d', progressing!.revision, {
        phase: 'rolled-back',
      });
      expect(failed?.finishedAt).toBe(at(T0 + 1000));
      expect(await store.activeForPlugin('p1')).toBeUndefined();
      expect((await store.list({ active: false })).map(d => d.id)).toEqual([
        'd',
      ]);

      // a later terminal phase keeps the time it finished
      clock = T0 + 2000;
      const worse = await store.save('d', failed!.revision, {
        phase: 'failed',
      });
      expect(worse?.finishedAt).toBe(at(T0 + 1000));

      // a retry makes it active and unfinished again
      const retried = await store.save('d', worse!.revision, {
        phase: 'progressing',
      });
      expect(retried?.finishedAt).toBeUndefined();
      expect((await store.activeForPlugin('p1'))?.id).toBe('d');
      // ...unless another deployment of the plugin is active by then
      const done = await store.save('d', retried!.revision, {
        phase: 'aborted',
      });
      await store.create(deployment('p1', { id: 'd-next' }));
      await expect(
        store.save('d', done!.revision, { phase: 'progressing' }),
      ).rejects.toThrow("already has an active deployment 'd-next'");
      expect((await store.get('d'))?.phase).toBe('aborted');
    });

    it('changes by deciding again when another write came first', async () => {
      const store = await createStore();
      await store.create(deployment('p1', { id: 'd' }));
      const seen: number[] = [];
      const changed = await store.change('d', async current => {
        seen.push(current.revision);
        if (seen.length === 1) {
          // another writer gets in between this read and its write
          await store.save('d', current.revision, { message: 'paused by ann' });
        }
        return {
          approvals: [...current.approvals, approval(current.message)],
        };
      });
      expect(seen).toEqual([1, 2]);
      // decided from the newer deployment: the other write is kept
      expect(changed).toMatchObject({
        revision: 3,
        message: 'paused by ann',
        approvals: [{ gate: 'start', reason: 'paused by ann' }],
      });
      expect(await store.get('d')).toEqual(changed);

      // no change: nothing written
      expect(await store.change('d', () => undefined)).toEqual(changed);
      expect(await store.change('d', () => ({}))).toEqual(changed);
      // what decide throws comes out
      await expect(
        store.change('d', () => {
          throw new ConflictError('not while progressing');
        }),
      ).rejects.toThrow('not while progressing');
      await expect(store.change('nope', () => ({}))).rejects.toThrow(
        NotFoundError,
      );
      expect((await store.get('d'))?.revision).toBe(3);
    });
  },
);

function approval(reason?: string) {
  return {
    step: 0,
    gate: 'start' as const,
    requestedAt: at(T0),
    reason,
  };
}
