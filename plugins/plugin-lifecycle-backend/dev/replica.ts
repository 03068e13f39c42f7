/*
 * One backend replica for the multi-replica tests and the orchestrator
 * benchmark: a real Backstage backend (backend-defaults) with the
 * plugin-lifecycle plugin and a `recording` runtime that does no real work
 * but records every install it performs, so a test can count effects.
 *
 *   node --require @backstage/cli/config/nodeTransform.cjs dev/replica.ts --config <file>
 *
 * Environment: RECORDING_INSTALL_MS (time an install takes, default 0).
 */
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

const backend = createBackend();
backend.add(import('../src'));
backend.add(recordingRuntimeModule);
backend.start();
