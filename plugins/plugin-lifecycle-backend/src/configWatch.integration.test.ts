import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory from 'knex';
import {
  CONFIG_SECRET_MASK,
  EffectiveConfiguration,
} from '@internal/plugin-lifecycle-common';
import {
  REPLICA_TOKEN,
  Replica,
  callReplica,
  startReplica,
} from '../dev/replicas';

jest.setTimeout(240_000);

const postgresUrl =
  process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
const describeWithPostgres = postgresUrl ? describe : describe.skip;

const PLUGIN = 'cfg-watch';
const SECRET = `s3cret-${randomUUID()}`;

/**
 * Extra app-config for the replicas, given the way Backstage reads it from
 * the environment (APP_CONFIG_<path>, JSON values): dev/replicas.ts passes
 * its environment on to each replica process.
 */
const replicaConfig: Record<string, string> = {
  // The same key on both replicas: either opens what the other sealed.
  APP_CONFIG_pluginLifecycle_configuration_encryption_keys: JSON.stringify([
    { id: 'cfg-watch-test', secret: randomBytes(32).toString('base64') },
  ]),
  // Polling far apart: a change must reach the other replica through NOTIFY.
  APP_CONFIG_pluginLifecycle_configuration_watchPollInterval: '600000',
};

/**
 * A server-sent event stream from a replica, read from the response body.
 * fetch asks for gzip as browsers do, so a stream the backend's compression
 * held back would show here.
 */
async function openEventStream(replica: Replica, urlPath: string) {
  const controller = new AbortController();
  const res = await fetch(`${replica.url}${urlPath}`, {
    headers: {
      Authorization: `Bearer ${REPLICA_TOKEN}`,
      Accept: 'text/event-stream',
    },
    signal: controller.signal,
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const read = async () => {
    // Not a timing assertion: only so that a stream that never delivers
    // fails with a message instead of running into the test's timeout.
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `no event within 60 s; received so far: ${JSON.stringify(
                    buffer,
                  )}\n${replica.output()}`,
                ),
              ),
            60_000,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    status: res.status,
    headers: res.headers,
    /** The next event (comments such as keep-alives skipped). */
    async next(): Promise<{ event: string; data: any }> {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trim());
          }
          if (data.length === 0) continue;
          return { event, data: JSON.parse(data.join('\n')) };
        }
        const { value, done } = await read();
        if (done) throw new Error(`the event stream ended; left: ${buffer}`);
        buffer += decoder.decode(value, { stream: true });
      }
    },
    close() {
      reader.cancel().catch(() => {});
      controller.abort();
    },
  };
}

function entry(configuration: EffectiveConfiguration, key: string) {
  return configuration.entries.find(e => e.key === key);
}

/**
 * Two real backend processes on one PostgreSQL database: a configuration
 * change written through one replica's API reaches long-polls and event
 * streams held open on the other, with secrets masked; check-and-set holds
 * across replicas.
 */
describeWithPostgres(
  'configuration watches across two backend replicas on one PostgreSQL (skipped when no PostgreSQL is configured: set BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING)',
  () => {
    const prefix = `plt_cw_${randomUUID().slice(0, 8)}_`;
    const replicas: Replica[] = [];
    let one: Replica;
    let two: Replica;

    beforeAll(async () => {
      const saved = Object.fromEntries(
        Object.keys(replicaConfig).map(k => [k, process.env[k]]),
      );
      Object.assign(process.env, replicaConfig);
      try {
        // One after the other: replicas starting together on a fresh
        // database can race creating the same tables (Backstage's own task
        // scheduler migrations). Each is kept for afterAll as soon as it runs.
        for (const name of ['cw-1', 'cw-2']) {
          replicas.push(
            await startReplica({
              name,
              postgresUrl: postgresUrl!,
              databasePrefix: prefix,
            }),
          );
        }
        [one, two] = replicas;
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }

      const install = await callReplica(
        one,
        'POST',
        `/plugins/${PLUGIN}/install`,
        {
          version: '1.0.0',
          runtime: 'recording',
          artifact: {
            type: 'external',
            endpoints: [{ host: '127.0.0.1', port: 9, protocol: 'http' }],
          },
        },
      );
      if (install.status !== 202) {
        throw new Error(
          `install refused: ${install.status} ${JSON.stringify(install.body)}`,
        );
      }
      for (let i = 0; ; i++) {
        const op = await callReplica(
          one,
          'GET',
          `/operations/${install.body.operationId}`,
        );
        if (op.body?.status === 'succeeded') break;
        if (!['queued', 'running'].includes(op.body?.status) || i > 1200) {
          throw new Error(
            `install did not succeed: ${JSON.stringify(
              op.body,
            )}\n${one.output()}`,
          );
        }
        await new Promise(r => setTimeout(r, 50));
      }
    });

    afterAll(async () => {
      await Promise.all(replicas.map(r => r.kill('SIGTERM')));
      const admin = knexFactory({ client: 'pg', connection: postgresUrl });
      await admin
        .raw(`DROP DATABASE IF EXISTS "${prefix}plugin-lifecycle"`)
        .catch(() => {});
      await admin.destroy();
    });

    it('a long-poll on replica 1 answers a change written on replica 2, with the secret masked', async () => {
      const before = await callReplica(
        one,
        'GET',
        `/plugins/${PLUGIN}/config/production`,
      );
      expect(before.status).toBe(200);
      const afterRevision: number = before.body.revision;

      const polling = callReplica(
        one,
        'GET',
        `/plugins/${PLUGIN}/config/production/watch?afterRevision=${afterRevision}&timeoutMs=20000`,
      );
      // Give the long-poll time to arrive first (the answer is the same if not).
      await new Promise(r => setTimeout(r, 500));

      const written = await callReplica(
        two,
        'PUT',
        `/plugins/${PLUGIN}/config/production`,
        {
          entries: [
            {
              key: 'database.url',
              value: 'postgresql://db:5432/app',
              type: 'string',
            },
            { key: 'database.password', value: SECRET, type: 'secret' },
          ],
          expectedVersion: 0,
        },
      );
      expect(written.status).toBe(201);
      expect(written.body.version).toMatchObject({
        pluginId: PLUGIN,
        layer: 'production',
        version: 1,
      });
      const revision: number = written.body.version.revision;
      expect(revision).toBeGreaterThan(afterRevision);

      const answer = await polling;
      expect(answer.status).toBe(200);
      expect(answer.body.changed).toBe(true);
      const configuration: EffectiveConfiguration = answer.body.configuration;
      expect(configuration).toMatchObject({
        pluginId: PLUGIN,
        environment: 'production',
        version: 1,
        revision,
      });
      expect(entry(configuration, 'database.url')?.value).toBe(
        'postgresql://db:5432/app',
      );
      expect(entry(configuration, 'database.password')).toMatchObject({
        type: 'secret',
        value: CONFIG_SECRET_MASK,
      });
      expect(JSON.stringify(answer.body)).not.toContain(SECRET);

      // A plain read on replica 1 sees the change too, and the secret stays masked.
      const read = await callReplica(
        one,
        'GET',
        `/plugins/${PLUGIN}/config/production`,
      );
      expect(read.body.revision).toBe(revision);
      expect(JSON.stringify(read.body)).not.toContain(SECRET);
    });

    it('an event stream on replica 1 gets a configuration event for a write on replica 2', async () => {
      const stream = await openEventStream(
        one,
        `/plugins/${PLUGIN}/config/production/watch`,
      );
      try {
        expect(stream.status).toBe(200);
        expect(stream.headers.get('content-type')).toMatch(
          /^text\/event-stream/,
        );
        // The current configuration first; the watch is in place once it is here.
        const first = await stream.next();
        expect(first.event).toBe('configuration');
        expect(first.data.version).toBe(1);

        const written = await callReplica(
          two,
          'PUT',
          `/plugins/${PLUGIN}/config/production`,
          {
            entries: [
              {
                key: 'database.url',
                value: 'postgresql://db-2:5432/app',
                type: 'string',
              },
              { key: 'database.password', value: SECRET, type: 'secret' },
            ],
            expectedVersion: 1,
          },
        );
        expect(written.status).toBe(201);
        expect(written.body.version.version).toBe(2);

        const event = await stream.next();
        expect(event.event).toBe('configuration');
        expect(event.data).toMatchObject({
          pluginId: PLUGIN,
          environment: 'production',
          version: 2,
          revision: written.body.version.revision,
        });
        expect(entry(event.data, 'database.url')?.value).toBe(
          'postgresql://db-2:5432/app',
        );
        expect(entry(event.data, 'database.password')?.value).toBe(
          CONFIG_SECRET_MASK,
        );
        expect(JSON.stringify(event.data)).not.toContain(SECRET);
      } finally {
        stream.close();
      }
    });

    it('check-and-set holds across replicas: a stale expectedVersion is a 409', async () => {
      const current = await callReplica(
        two,
        'GET',
        `/plugins/${PLUGIN}/config/production`,
      );
      const version: number = current.body.version;

      // Replica 1 writes the next version ...
      const fresh = await callReplica(
        one,
        'PUT',
        `/plugins/${PLUGIN}/config/production`,
        {
          entries: [
            { key: 'database.url', value: 'postgresql://db-3', type: 'string' },
          ],
          expectedVersion: version,
        },
      );
      expect(fresh.status).toBe(201);
      expect(fresh.body.version.version).toBe(version + 1);

      // ... so replica 2's write against the version both had read conflicts.
      const stale = await callReplica(
        two,
        'PUT',
        `/plugins/${PLUGIN}/config/production`,
        {
          entries: [
            { key: 'database.url', value: 'postgresql://lost', type: 'string' },
          ],
          expectedVersion: version,
        },
      );
      expect(stale.status).toBe(409);
      expect(JSON.stringify(stale.body)).toMatch(/expected/i);

      // Nothing was written by the refused request, on either replica.
      const versions = await callReplica(
        two,
        'GET',
        `/plugins/${PLUGIN}/config/production/versions`,
      );
      expect(versions.body.items[0].version).toBe(version + 1);
      const latest = await callReplica(
        one,
        'GET',
        `/plugins/${PLUGIN}/config/production/versions/${version + 1}`,
      );
      expect(latest.body.entries).toEqual([
        expect.objectContaining({ value: 'postgresql://db-3' }),
      ]);

      // A long-poll for changes after the newest revision is not answered
      // with that revision, even by a replica that learns of it late.
      const after = await callReplica(
        two,
        'GET',
        `/plugins/${PLUGIN}/config/production/watch?afterRevision=${fresh.body.version.revision}&timeoutMs=1000`,
      );
      expect(after.status).toBe(200);
      expect(after.body.changed).toBe(false);
    });
  },
);
