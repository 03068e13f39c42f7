import { randomBytes, randomUUID } from 'node:crypto';
import { mockServices, TestDatabaseId } from '@backstage/backend-test-utils';
import {
  Deployment,
  TERMINAL_DEPLOYMENT_PHASES,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { readPluginLifecycleConfig } from '../config';
import { DeploymentStore, NewDeployment } from '../database/DeploymentStore';
import { applyDatabaseMigrations } from '../database/migrations';
import { ExternalRuntime } from '../engines/runtime/ExternalRuntime';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import { PluginLifecycleOrchestrationSystem } from '../system/PluginLifecycleOrchestrationSystem';
import { createOrchestrationSystem } from '../wiring/createOrchestrationSystem';
import { createTestDatabases } from './databases';
import { makeTempDir } from './sampleArtifacts';

/** An external artifact: instances someone else runs, so nothing is spawned. */
export const externalArtifact = {
  type: 'external' as const,
  endpoints: [{ host: '127.0.0.1', port: 9, protocol: 'http' as const }],
};

/**
 * A real orchestration system on a test database with only the external
 * runtime, plugin `sample` installed at 1.0.0 (tenant `default`), and the
 * deployment store over the same database for seeding deployments.
 */
export async function startDeploymentSystem(
  databases: ReturnType<typeof createTestDatabases>,
  databaseId: TestDatabaseId,
): Promise<{
  system: PluginLifecycleOrchestrationSystem;
  store: DeploymentStore;
  knex: Knex;
  seed: (d: Partial<NewDeployment>) => Promise<string>;
  stop: () => Promise<void>;
}> {
  const knex = await databases.init(databaseId);
  await applyDatabaseMigrations({ getClient: async () => knex });
  const config = readPluginLifecycleConfig(
    mockServices.rootConfig({
      data: {
        pluginLifecycle: {
          dataDir: makeTempDir('plugin-lifecycle-deployments-'),
          configuration: {
            encryption: {
              keys: [{ id: 'k1', secret: randomBytes(32).toString('base64') }],
            },
          },
          orchestrator: { pollInterval: 20 },
        },
      },
    }),
  );
  const logger = mockServices.logger.mock();
  const system = await createOrchestrationSystem({
    logger,
    db: knex,
    config,
    runtimes: RuntimeRegistry.create([ExternalRuntime.create()]),
    replicaId: 'test-replica',
  });
  const installed = await system.installPlugin('sample', '1.0.0', {
    artifact: externalArtifact,
    healthProbes: [],
  });
  const done = await system.waitForOperation(installed.operationId);
  if (done.status !== 'succeeded') {
    throw new Error(`install: ${done.status} ${done.error}`);
  }
  // Seeded deployments are a second apart: newest first is then one order.
  let clock = Date.now();
  const store = DeploymentStore.create({
    database: knex,
    clock: () => (clock += 1000),
  });
  const seed = async (d: Partial<NewDeployment>) => {
    const created = await store.create(newDeployment(d));
    return created.id;
  };
  return {
    system,
    store,
    knex,
    seed,
    stop: async () => {
      await system.shutdown();
      await knex.destroy();
    },
  };
}

/**
 * A canary of `sample` 1.0.0 -> 1.1.0 waiting at its promotion gate
 * (step 2 of 5), unless `d` says otherwise.
 */
export function newDeployment(d: Partial<NewDeployment> = {}): NewDeployment {
  return {
    id: randomUUID(),
    pluginId: 'sample',
    tenant: 'default',
    strategy: 'canary',
    fromVersion: '1.0.0',
    toVersion: '1.1.0',
    config: { canary: { trafficIncrement: 50, autoPromote: false } },
    phase: 'awaiting-approval',
    currentStep: 2,
    steps: [
      {
        kind: 'scale',
        side: 'new',
        replicas: 1,
        index: 0,
        status: 'succeeded',
      },
      { kind: 'setWeight', weight: 50, index: 1, status: 'succeeded' },
      {
        kind: 'approval',
        gate: 'promotion',
        onTimeout: 'wait',
        index: 2,
        status: 'running',
      },
      { kind: 'setWeight', weight: 100, index: 3, status: 'pending' },
      { kind: 'finish', index: 4, status: 'pending' },
    ],
    traffic: { '1.0.0': 50, '1.1.0': 50 },
    instances: {},
    analysis: [],
    approvals: [
      { step: 2, gate: 'promotion', requestedAt: '2026-12-04T10:00:00.000Z' },
    ],
    ...d,
  };
}

/**
 * Polls a deployment through the facade until it is in one of `phases`
 * (default: any terminal phase) and returns it; throws with its last state
 * after `timeoutMs`. The facade's counterpart of `waitForDeployment`.
 */
export async function waitForSystemDeployment(
  system: Pick<PluginLifecycleOrchestrationSystem, 'getDeployment'>,
  deploymentId: string,
  options: { phases?: string[]; timeoutMs?: number } = {},
): Promise<Deployment> {
  const phases = options.phases ?? [...TERMINAL_DEPLOYMENT_PHASES];
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: Deployment | undefined;
  while (Date.now() < deadline) {
    last = await system.getDeployment(deploymentId);
    if (phases.includes(last.phase)) return last;
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
