import type { Server } from 'node:http';
import { BackendFeature } from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { JsonObject } from '@backstage/types';
import { Operation } from '@internal/plugin-lifecycle-common';
import request from 'supertest';
import { pluginLifecyclePlugin } from '../plugin';
import { makeTempDir, packSampleArtifacts } from './sampleArtifacts';

/**
 * Starts a test backend with the real plugin (SQLite, process runtime), a
 * fresh data directory and the sample service packed and configured under
 * `pluginId`. `config` is merged into `pluginLifecycle`.
 */
export async function startLifecycleBackend(options: {
  pluginId: string;
  config?: JsonObject;
  /** Merged into the root of app-config, beside `pluginLifecycle`. */
  rootConfig?: JsonObject;
  features?: BackendFeature[];
}): Promise<{
  server: Server;
  stop: () => Promise<void>;
  artifacts: Awaited<ReturnType<typeof packSampleArtifacts>>;
}> {
  const artifacts = await packSampleArtifacts();
  const backend = await startTestBackend({
    features: [
      pluginLifecyclePlugin,
      mockServices.rootConfig.factory({
        data: {
          ...options.rootConfig,
          pluginLifecycle: {
            dataDir: makeTempDir('plugin-lifecycle-test-'),
            // A test's instances end with its backend.
            shutdown: { stopInstances: true },
            ...options.config,
            // The sample plugin, besides any the test configures.
            plugins: {
              [options.pluginId]: {
                artifact: { type: 'tarball', path: artifacts.tarballTemplate },
              },
              ...(options.config?.plugins as object | undefined),
            },
          },
        },
      }),
      ...(options.features ?? []),
    ],
  });
  return { server: backend.server, stop: () => backend.stop(), artifacts };
}

/**
 * Polls GET /operations/{id} until the operation has finished, for about
 * `timeoutMs` (an install from the npm registry takes longer than 30 s).
 */
export async function waitForOperation(
  server: Server,
  authorization: string,
  operationId: string,
  timeoutMs = 30_000,
): Promise<Operation> {
  for (let i = 0; i < timeoutMs / 50; i++) {
    const res = await request(server)
      .get(`/api/plugin-lifecycle/operations/${operationId}`)
      .set('Authorization', authorization);
    if (res.status !== 200) {
      throw new Error(`GET operation answered ${res.status}: ${res.text}`);
    }
    if (!['queued', 'running'].includes(res.body.status)) return res.body;
    await new Promise(r => setTimeout(r, 50));
  }
  throw new Error(`operation ${operationId} did not finish`);
}
