import { mockServices } from '@backstage/backend-test-utils';
import { createTestDatabases } from '../../__testUtils__/databases';
import { applyDatabaseMigrations } from '../../database/migrations';
import { OperationStore } from '../../database/OperationStore';
import { SystemEvents } from '../../events/SystemEvents';
import { Orchestrator } from './Orchestrator';

jest.setTimeout(60_000);

const databases = createTestDatabases();

async function until(condition: () => Promise<boolean>) {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise(r => setTimeout(r, 20));
  }
  throw new Error('condition not met');
}

describe.each(databases.eachSupportedId())('Orchestrator on %s', databaseId => {
  let orchestrator: Orchestrator | undefined;

  afterEach(async () => {
    await orchestrator?.shutdown(1000);
    orchestrator = undefined;
  });

  it('does not run a second attempt of an operation it is still running when the operation comes back to it', async () => {
    const db = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => db });
    const operations = OperationStore.create({ db });
    let release = () => {};
    const released = new Promise<void>(r => (release = r));
    const calls: number[] = [];
    orchestrator = Orchestrator.create({
      logger: mockServices.logger.mock(),
      operations,
      events: new SystemEvents(),
      handlers: {
        start: async op => {
          calls.push(op.attempts);
          await released;
          return {};
        },
      },
      replicaId: 'replica-a',
      maxConcurrentOperations: 4,
      leaseMs: 15_000,
      pollIntervalMs: 20,
      retry: { baseMs: 50, maxMs: 100 },
    });
    orchestrator.start();
    const { operations: queued } = await orchestrator.enqueue([
      {
        id: 'op-1',
        pluginId: 'p',
        tenant: 'default',
        type: 'start',
        params: {},
        timeoutMs: 60_000,
        maxAttempts: 3,
      },
    ]);
    await until(async () => calls.length === 1);

    // Its lease lapsed (say, the machine starved the renewal) and another
    // replica put it back in the queue; this replica claims it again.
    await db('operations').where({ id: queued[0].id }).update({
      status: 'queued',
      lease_owner: null,
      lease_expires_at: null,
    });
    await until(async () => {
      const row = await db('operations').where({ id: 'op-1' }).first();
      return row.status === 'running' && Number(row.attempts) === 2;
    });
    release();
    await until(
      async () =>
        (await db('operations').where({ id: 'op-1' }).first()).status !==
        'running',
    );
    expect(calls).toEqual([1]);
    expect(await operations.get('op-1')).toMatchObject({
      status: 'succeeded',
      attempts: 2,
    });
  });

  it('fails an operation whose stored parameters do not fit its type, without running its handler or retrying', async () => {
    const db = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => db });
    const operations = OperationStore.create({ db });
    const ran: string[] = [];
    orchestrator = Orchestrator.create({
      logger: mockServices.logger.mock(),
      operations,
      events: new SystemEvents(),
      handlers: {
        install: async op => {
          ran.push(op.params.version);
          return { version: op.params.version };
        },
      },
      replicaId: 'replica-a',
      maxConcurrentOperations: 4,
      leaseMs: 15_000,
      pollIntervalMs: 20,
      retry: { baseMs: 50, maxMs: 100 },
    });
    orchestrator.start();
    await orchestrator.enqueue([
      {
        id: 'op-bad',
        pluginId: 'p',
        tenant: 'default',
        type: 'install',
        // written by hand (or by an older replica): no version
        params: { replicas: 'two' },
        timeoutMs: 60_000,
        maxAttempts: 3,
      },
      {
        id: 'op-good',
        pluginId: 'q',
        tenant: 'default',
        type: 'install',
        params: { version: '1.0.0' },
        timeoutMs: 60_000,
        maxAttempts: 3,
      },
    ]);
    await until(async () => {
      const rows = await db('operations').whereIn('id', ['op-bad', 'op-good']);
      return rows.every(r => r.status !== 'queued' && r.status !== 'running');
    });
    expect(await operations.get('op-bad')).toMatchObject({
      status: 'failed',
      attempts: 1,
      error:
        'Operation op-bad (install of p) has parameters this backend cannot read: version: is required: a semantic version such as 1.2.3; replicas: Invalid input: expected number, received string',
    });
    expect(await operations.get('op-good')).toMatchObject({
      status: 'succeeded',
      result: { version: '1.0.0' },
    });
    expect(ran).toEqual(['1.0.0']);
  });
});
