import type { Server } from 'node:http';
import { BackendFeature } from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { JsonObject } from '@backstage/types';
import {
  Deployment,
  Operation,
  TERMINAL_DEPLOYMENT_PHASES,
} from '@internal/plugin-lifecycle-common';
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
  /** More plugins configured with the sample service's artifact. */
  extraPluginIds?: string[];
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
              ...Object.fromEntries(
                [options.pluginId, ...(options.extraPluginIds ?? [])].map(
                  id => [
                    id,
                    {
                      artifact: {
                        type: 'tarball',
                        path: artifacts.tarballTemplate,
                      },
                    },
                  ],
                ),
              ),
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

/**
 * Polls a deployment until it is in one of `phases` (default: any terminal
 * phase) and returns it; throws with its last state after `timeoutMs`.
 */
export async function waitForDeployment(
  server: Server,
  authorization: string,
  deploymentId: string,
  options: { phases?: string[]; timeoutMs?: number } = {},
): Promise<Deployment> {
  const phases = options.phases ?? [...TERMINAL_DEPLOYMENT_PHASES];
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: Deployment | undefined;
  while (Date.now() < deadline) {
    const res = await request(server)
      .get(`/api/plugin-lifecycle/deployments/${deploymentId}`)
      .set('Authorization', authorization);
    if (res.status !== 200) {
      throw new Error(`GET deployment answered ${res.status}: ${res.text}`);
    }
    last = res.body;
    if (phases.includes(last!.phase)) return last!;
    await new Promise(r => setTimeout(r, 50));
  }
  throw new Error(
    `deployment ${deploymentId} did not reach ${phases.join(
      '/',
    )}: ${JSON.stringify(
      last && {
        phase: last.phase,
        currentStep: last.currentStep,
        message: last.message,
      },
    )}`,
  );
}

/**
 * An update through the API that waits for its deployment's end: the
 * operation (which hands the instances to the deployment) and then the
 * deployment. Returns both.
 */
export async function updateAndWait(
  server: Server,
  authorization: string,
  pluginId: string,
  body: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<{ operation: Operation; deployment?: Deployment }> {
  const res = await request(server)
    .post(`/api/plugin-lifecycle/plugins/${pluginId}/update`)
    .set('Authorization', authorization)
    .send(body);
  if (res.status !== 202) {
    throw new Error(`POST update answered ${res.status}: ${res.text}`);
  }
  const operation = await waitForOperation(
    server,
    authorization,
    res.body.operationId,
    timeoutMs,
  );
  const deployment = res.body.deploymentId
    ? await waitForDeployment(server, authorization, res.body.deploymentId, {
        timeoutMs,
      })
    : undefined;
  return { operation, deployment };
}
