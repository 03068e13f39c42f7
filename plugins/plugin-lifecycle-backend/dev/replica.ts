/*
 * One backend replica for the multi-replica tests and the orchestrator
 * benchmark: a real Backstage backend (backend-defaults) with the
 * plugin-lifecycle plugin and a `recording` runtime that does no real work
 * but records every install it performs, so a test can count effects.
 *
 *   node --require @backstage/cli/config/nodeTransform.cjs dev/replica.ts --config <file>
 *
 * Environment: RECORDING_INSTALL_MS (time an install takes, default 0),
 * REPLICA_QUERY_STATS (a file: the replica counts the SQL statements it
 * sends, by statement, and writes the counts to <file>.<pid>.json when it
 * stops), REPLICA_MEMORY_FILE (on SIGUSR2 the replica collects garbage when
 * run with --expose-gc and writes process.memoryUsage() there as JSON; with
 * REPLICA_HEAP_SNAPSHOT=1 also a heap snapshot beside it), REPLICA_KUBERNETES=1
 * (the kubernetes runtime module too; it adds the runtime only when
 * pluginLifecycle.runtime.kubernetes is configured).
 */
import fs from 'node:fs';
import v8 from 'node:v8';
import { createBackend } from '@backstage/backend-defaults';
import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { pluginLifecycleRuntimesExtensionPoint } from '@internal/plugin-lifecycle-node';
import { RecordingRuntime } from './RecordingRuntime';

const recordingRuntimeModule = createBackendModule({
  pluginId: 'plugin-lifecycle',
  moduleId: 'recording-runtime',
  register(env) {
    env.registerInit({
      deps: {
        runtimes: pluginLifecycleRuntimesExtensionPoint,
        database: coreServices.database,
      },
      async init({ runtimes, database }) {
        const db = await database.getClient();
        const statsFile = process.env.REPLICA_QUERY_STATS;
        if (statsFile) {
          const counts = new Map<string, number>();
          db.on('query', (q: { sql: string }) => {
            const sql = q.sql.replace(/\s+/g, ' ').slice(0, 160);
            counts.set(sql, (counts.get(sql) ?? 0) + 1);
          });
          process.once('exit', () =>
            fs.writeFileSync(
              `${statsFile}.${process.pid}.json`,
              JSON.stringify(
                [...counts].sort((a, b) => b[1] - a[1]),
                null,
                1,
              ),
            ),
          );
        }
        runtimes.addRuntime(
          await RecordingRuntime.create({
            db,
            installMs: Number(process.env.RECORDING_INSTALL_MS ?? 0),
          }),
        );
      },
    });
  },
});

const memoryFile = process.env.REPLICA_MEMORY_FILE;
if (memoryFile) {
  process.on('SIGUSR2', () => {
    (globalThis as { gc?: () => void }).gc?.();
    if (process.env.REPLICA_HEAP_SNAPSHOT === '1') {
      v8.writeHeapSnapshot(`${memoryFile}.${Date.now()}.heapsnapshot`);
    }
    const tmp = `${memoryFile}.tmp`;
    fs.writeFileSync(
      tmp,
      JSON.stringify({
        ...process.memoryUsage(),
        spaces: Object.fromEntries(
          v8
            .getHeapSpaceStatistics()
            .map(s => [s.space_name, Math.round(s.space_size / 1048576)]),
        ),
      }),
    );
    fs.renameSync(tmp, memoryFile);
  });
}

const backend = createBackend();
backend.add(import('../src'));
backend.add(recordingRuntimeModule);
// Not by default: loading the cluster client slows every other replica's start.
if (process.env.REPLICA_KUBERNETES === '1') {
  backend.add(import('@internal/plugin-lifecycle-backend-module-kubernetes'));
}
backend.start();
