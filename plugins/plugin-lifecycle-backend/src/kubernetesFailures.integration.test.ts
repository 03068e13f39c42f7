/*
 * Cluster failures of the kubernetes runtime as the backend's users see
 * them (issue #17): an identity without rights, a ResourceQuota the pods
 * exceed, and a canary whose new pods the cluster refuses or that crash-loop,
 * each through the real backend's operations and deployments over HTTP, on a
 * real Kubernetes 1.20 control plane with a kubelet stand-in
 * (docs/kubernetes-testing.md). No container runs and pod IPs are
 * unroutable: the plugins have no probes the backend would send to pods.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { mockCredentials } from '@backstage/backend-test-utils';
import type { Deployment, Operation } from '@internal/plugin-lifecycle-common';
import {
  KubeTestCluster,
  describeWithKube,
  waitFor,
  type PodBehaviour,
} from '@internal/kube-test-cluster';
import { pluginLifecycleModuleKubernetesRuntime } from '@internal/plugin-lifecycle-backend-module-kubernetes';
import {
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForDeployment,
  waitForOperation,
} from './__testUtils__/testBackend';

const auth = mockCredentials.user.header('user:default/alice');
const api = (p: string) => `/api/plugin-lifecycle${p}`;
const image = (name: string) => ({
  type: 'image',
  image: `registry.example.com/${name}:1.0.0`,
  port: 7007,
});
const PLUGIN = 'plugin-lifecycle.backstage.io/plugin';
const VERSION = 'plugin-lifecycle.backstage.io/version';
const INSTANCE = 'plugin-lifecycle.backstage.io/instance';

/** Everything the runtime may touch in a namespace, as the README lists it. */
const RUNTIME_RULES = [
  {
    apiGroups: ['apps'],
    resources: ['deployments'],
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'],
  },
  { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['list'] },
  {
    apiGroups: [''],
    resources: ['services'],
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
  },
  {
    apiGroups: [''],
    resources: ['secrets'],
    verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'],
  },
  {
    apiGroups: [''],
    resources: ['pods'],
    verbs: ['get', 'list', 'watch', 'patch', 'delete'],
  },
];

describeWithKube('kubernetes failures through the backend', binaries => {
  let cluster: KubeTestCluster;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  let tmp: string;
  /** Per-plugin namespaces `pl-<plugin>`, the admin's identity. */
  let admin: Awaited<ReturnType<typeof startLifecycleBackend>>;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-failures-'));
    cluster = await KubeTestCluster.start({ binaries });
    await cluster.startKubelet({
      intervalMs: 150,
      podBehaviour: (pod: V1Pod): PodBehaviour => {
        const labels = pod.metadata?.labels ?? {};
        // Only the new version of this plugin crash-loops.
        if (
          labels[PLUGIN] === 'kube-crashcanary' &&
          labels[VERSION] === '2.0.0'
        ) {
          return {
            state: 'waiting',
            reason: 'CrashLoopBackOff',
            message: 'back-off 10s restarting failed container',
            restartCount: 3,
          };
        }
        return { state: 'ready' };
      },
    });
    apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    admin = await startLifecycleBackend({
      pluginId: 'kube-quota',
      config: {
        orchestrator: { defaultTimeout: 60_000, pollInterval: 20 },
        deployments: { tickInterval: 50 },
        runtime: {
          restartPolicy: { maxRestarts: 0 },
          kubernetes: {
            kubeconfig: cluster.kubeconfigPath(),
            namespaces: 'per-plugin',
            namespacePrefix: 'pl-',
          },
        },
        plugins: Object.fromEntries(
          ['kube-quota', 'kube-canary', 'kube-crashcanary'].map(id => [
            id,
            { runtime: 'kubernetes', artifact: image(id) },
          ]),
        ),
      },
      features: [pluginLifecycleModuleKubernetesRuntime],
    });
  }, 240_000);

  afterAll(async () => {
    await admin?.stop();
    await cluster?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  async function act(
    server: Server,
    pluginId: string,
    action: string,
    body: object = {},
  ): Promise<Operation> {
    const res = await request(server)
      .post(api(`/plugins/${pluginId}/${action}`))
      .set('Authorization', auth)
      .send(body);
    expect(res.status).toBe(202);
    return waitForOperation(server, auth, res.body.operationId, 90_000);
  }

  async function getPlugin(server: Server, pluginId: string) {
    const res = await request(server)
      .get(api(`/plugins/${pluginId}`))
      .set('Authorization', auth);
    expect(res.status).toBe(200);
    return res.body;
  }

  /** Names of the objects a namespace holds, by kind. */
  async function objectsIn(namespace: string, labelSelector?: string) {
    const q = { namespace, labelSelector };
    return {
      deployments: (await apps.listNamespacedDeployment(q)).items.map(
        d => d.metadata!.name,
      ),
      services: (await core.listNamespacedService(q)).items.map(
        s => s.metadata!.name,
      ),
      secrets: (await core.listNamespacedSecret(q)).items
        .filter(s => s.type !== 'kubernetes.io/service-account-token')
        .map(s => s.metadata!.name),
      pods: (await core.listNamespacedPod(q)).items.map(p => p.metadata!.name),
    };
  }

  /** A ResourceQuota of `pods`, once the quota controller has counted (admission needs it). */
  async function podQuota(namespace: string, pods: string) {
    await core.createNamespacedResourceQuota({
      namespace,
      body: { metadata: { name: 'pods' }, spec: { hard: { pods } } },
    });
    await waitFor('the quota status', async () => {
      const quota = await core.readNamespacedResourceQuota({
        name: 'pods',
        namespace,
      });
      return (
        quota.status?.hard?.pods === pods &&
        quota.status?.used?.pods !== undefined
      );
    });
  }

  it('an identity without rights fails the install with the missing rights and creates nothing; granted, the same install succeeds', async () => {
    const namespace = 'locked';
    await cluster.createNamespace(namespace);
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'runner' } },
    });
    const runnerKc = await cluster.serviceAccountKubeConfig(
      namespace,
      'runner',
    );
    const kubeconfig = path.join(tmp, 'runner.kubeconfig');
    fs.writeFileSync(kubeconfig, runnerKc.exportConfig(), { mode: 0o600 });
    const locked = await startLifecycleBackend({
      pluginId: 'kube-locked',
      config: {
        orchestrator: { defaultTimeout: 60_000, pollInterval: 20 },
        runtime: {
          restartPolicy: { maxRestarts: 0 },
          kubernetes: { kubeconfig, namespace },
        },
        plugins: {
          'kube-locked': { runtime: 'kubernetes', artifact: image('locked') },
        },
      },
      features: [pluginLifecycleModuleKubernetesRuntime],
    });
    try {
      const refused = await act(locked.server, 'kube-locked', 'install', {
        version: '1.0.0',
        start: true,
      });
      // A missing grant is not retried: another attempt meets the same answer.
      expect(refused).toMatchObject({ status: 'failed', attempts: 1 });
      expect(refused.error).toBe(
        "install of 1.0.0 failed: the kubernetes runtime's identity (system:serviceaccount:locked:runner) may not " +
          'get, list, watch, create, patch, update, delete deployments.apps in namespace locked; ' +
          'get, list, watch, create, patch, delete services in namespace locked; ' +
          'get, list, create, update, patch, delete secrets in namespace locked; ' +
          'get, list, watch, patch, delete pods in namespace locked; ' +
          'list replicasets.apps in namespace locked: grant them with a Role and RoleBinding',
      );
      expect(await getPlugin(locked.server, 'kube-locked')).toMatchObject({
        state: 'inactive',
        lastError: refused.error,
      });
      expect(await objectsIn(namespace)).toEqual({
        deployments: [],
        services: [],
        secrets: [],
        pods: [],
      });

      // The grant, as an operator would make it.
      const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
      await rbac.createNamespacedRole({
        namespace,
        body: {
          metadata: { name: 'plugin-lifecycle' },
          rules: RUNTIME_RULES,
        },
      });
      const authz = runnerKc.makeApiClient(AuthorizationV1Api);
      const grant = async () => {
        await rbac.createNamespacedRoleBinding({
          namespace,
          body: {
            metadata: { name: 'plugin-lifecycle' },
            roleRef: {
              apiGroup: 'rbac.authorization.k8s.io',
              kind: 'Role',
              name: 'plugin-lifecycle',
            },
            subjects: [{ kind: 'ServiceAccount', name: 'runner', namespace }],
          },
        });
        // The authorizer learns of RBAC objects from its cache: ask it as
        // the runner until the grant is in.
        await waitFor('the grant to reach the authorizer', async () => {
          const review = await authz.createSelfSubjectAccessReview({
            body: {
              spec: {
                resourceAttributes: {
                  verb: 'list',
                  group: 'apps',
                  resource: 'replicasets',
                  namespace,
                },
              },
            },
          });
          return review.status?.allowed === true;
        });
      };
      await grant();

      // The same backend, no restart: a refused check is not remembered.
      const granted = await act(locked.server, 'kube-locked', 'install', {
        version: '1.0.0',
        start: true,
      });
      expect(granted).toMatchObject({ status: 'succeeded' });
      const plugin = await getPlugin(locked.server, 'kube-locked');
      expect(plugin).toMatchObject({ state: 'running' });
      expect(plugin.lastError).toBeUndefined();
      expect(
        (
          await apps.readNamespacedDeployment({
            name: 'pl-kube-locked-1-0-0-stable',
            namespace,
          })
        ).spec?.replicas,
      ).toBe(1);

      // Revoked after the check: the apiserver's own refusal fails the
      // operation with its message.
      await rbac.deleteNamespacedRoleBinding({
        name: 'plugin-lifecycle',
        namespace,
      });
      await waitFor('the revocation to reach the authorizer', async () => {
        const review = await authz.createSelfSubjectAccessReview({
          body: {
            spec: {
              resourceAttributes: {
                verb: 'list',
                resource: 'pods',
                namespace,
              },
            },
          },
        });
        return review.status?.allowed === false;
      });
      const stopped = await act(locked.server, 'kube-locked', 'stop');
      expect(stopped).toMatchObject({ status: 'failed', attempts: 1 });
      expect(stopped.error).toMatch(
        /pods is forbidden: User "system:serviceaccount:locked:runner" cannot list resource "pods" in API group "" in the namespace "locked"/,
      );
      expect(await getPlugin(locked.server, 'kube-locked')).toMatchObject({
        state: 'error',
        lastError: stopped.error,
      });

      // Granted again, the stop goes through.
      await grant();
      expect(await act(locked.server, 'kube-locked', 'stop')).toMatchObject({
        status: 'succeeded',
      });
      expect(
        (
          await apps.readNamespacedDeployment({
            name: 'pl-kube-locked-1-0-0-stable',
            namespace,
          })
        ).spec?.replicas,
      ).toBe(0);
    } finally {
      await locked.stop();
    }
  }, 180_000);

  it('a quota the pods exceed fails the start with the cluster message and scales back', async () => {
    const namespace = 'pl-kube-quota';
    // The install makes the per-plugin namespace; the quota comes before the start.
    expect(
      await act(admin.server, 'kube-quota', 'install', {
        version: '1.0.0',
        replicas: 2,
      }),
    ).toMatchObject({ status: 'succeeded' });
    await cluster.serviceAccountToken(namespace, 'default');
    await podQuota(namespace, '1');

    const op = await act(admin.server, 'kube-quota', 'start');
    // Not retried: the same start meets the same quota.
    expect(op).toMatchObject({ status: 'failed', attempts: 1 });
    expect(op.error).toMatch(
      /^start failed: kubernetes: Deployment pl-kube-quota\/pl-kube-quota-1-0-0-stable cannot create pods for \S+: .*exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1/,
    );
    // The first instance started; the second was refused; the start
    // stopped the first again: the plugin is in error, nothing runs.
    const plugin = await getPlugin(admin.server, 'kube-quota');
    expect(plugin).toMatchObject({
      state: 'error',
      currentVersion: '1.0.0',
      lastError: op.error,
    });
    expect(
      plugin.instances.filter(
        (i: { status: string }) => i.status === 'running',
      ),
    ).toEqual([]);
    const deployment = await apps.readNamespacedDeployment({
      name: 'pl-kube-quota-1-0-0-stable',
      namespace,
    });
    expect(deployment.spec?.replicas).toBe(0);
    await waitFor('the pods to go', async () => {
      const pods = await core.listNamespacedPod({ namespace });
      return pods.items.length === 0;
    });
  }, 180_000);

  /** What a canary leaves behind when its new pods never serve. */
  async function failedCanary(pluginId: string, quota: boolean) {
    const namespace = `pl-${pluginId}`;
    expect(
      await act(admin.server, pluginId, 'install', {
        version: '1.0.0',
        start: true,
      }),
    ).toMatchObject({ status: 'succeeded' });
    const before = await getPlugin(admin.server, pluginId);
    const oldIds = before.instances
      .filter((i: { status: string }) => i.status === 'running')
      .map((i: { id: string }) => i.id);
    expect(oldIds).toHaveLength(1);
    // Objects of someone else, one with our plugin's, version's and
    // track's labels but not our managed-by label.
    const foreignLabels = {
      [PLUGIN]: pluginId,
      [VERSION]: '2.0.0',
      'plugin-lifecycle.backstage.io/track': 'canary',
    };
    await core.createNamespacedConfigMap({
      namespace,
      body: {
        metadata: { name: 'foreign-config', labels: foreignLabels },
        data: { owner: 'someone else' },
      },
    });
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'foreign-app', labels: foreignLabels },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'foreign' } },
          template: {
            metadata: { labels: { app: 'foreign' } },
            spec: { containers: [{ name: 'c', image: 'foreign:1' }] },
          },
        },
      },
    });
    if (quota) await podQuota(namespace, '1');

    const res = await request(admin.server)
      .post(api(`/plugins/${pluginId}/update`))
      .set('Authorization', auth)
      .send({
        version: '2.0.0',
        deploymentStrategy: 'canary',
        // Would wait at the pause for a person, were the canary up.
        deploymentConfig: {
          canary: {
            steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }],
          },
        },
      });
    expect(res.status).toBe(202);
    expect(
      await waitForOperation(admin.server, auth, res.body.operationId, 90_000),
    ).toMatchObject({ status: 'succeeded' });
    const deployment: Deployment = await waitForDeployment(
      admin.server,
      auth,
      res.body.deploymentId,
      { timeoutMs: 120_000 },
    );
    const plugin = await getPlugin(admin.server, pluginId);
    return { namespace, oldIds, deployment, plugin };
  }

  async function expectOnlyOldVersionLeft(
    namespace: string,
    pluginId: string,
    oldIds: string[],
  ) {
    const stableName = `pl-${pluginId}-1-0-0-stable`;
    const stable = await apps.readNamespacedDeployment({
      name: stableName,
      namespace,
    });
    expect(stable.spec?.replicas).toBe(1);
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `${PLUGIN}=${pluginId},${VERSION}=1.0.0`,
    });
    expect(pods.items.map(p => p.metadata?.labels?.[INSTANCE])).toEqual(oldIds);
    expect(pods.items[0].status?.phase).toBe('Running');
    // The rollout's objects are gone; someone else's are untouched.
    await waitFor('the canary pods to go', async () => {
      const left = await core.listNamespacedPod({
        namespace,
        labelSelector: `${VERSION}=2.0.0`,
      });
      return left.items.length === 0;
    });
    expect(await objectsIn(namespace)).toEqual({
      deployments: ['foreign-app', stableName],
      services: [stableName],
      secrets: [`${stableName}-env`],
      pods: [pods.items[0].metadata!.name],
    });
    const config = await core.readNamespacedConfigMap({
      name: 'foreign-config',
      namespace,
    });
    expect(config.data).toEqual({ owner: 'someone else' });
  }

  it('a canary whose pods exceed the quota rolls back with the cluster message, leaving the old set and foreign objects', async () => {
    const { namespace, oldIds, deployment, plugin } = await failedCanary(
      'kube-canary',
      true,
    );
    const quotaMessage =
      /exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1/;
    expect(deployment).toMatchObject({
      phase: 'rolled-back',
      traffic: { '1.0.0': 100 },
    });
    expect(deployment.message).toMatch(
      /^an instance of 2\.0\.0 did not become ready: kubernetes: Deployment pl-kube-canary\/pl-kube-canary-2-0-0-canary cannot create pods for /,
    );
    expect(deployment.message).toMatch(quotaMessage);
    expect(plugin).toMatchObject({
      state: 'running',
      currentVersion: '1.0.0',
      lastError: `update 1.0.0 -> 2.0.0 rolled-back: ${deployment.message}`,
    });
    expect(plugin.versions.map((v: { version: string }) => v.version)).toEqual([
      '1.0.0',
    ]);
    await expectOnlyOldVersionLeft(namespace, 'kube-canary', oldIds);
  }, 240_000);

  it('a canary whose pods crash-loop rolls back with the pod state, leaving the old set and foreign objects', async () => {
    const { namespace, oldIds, deployment, plugin } = await failedCanary(
      'kube-crashcanary',
      false,
    );
    expect(deployment).toMatchObject({
      phase: 'rolled-back',
      traffic: { '1.0.0': 100 },
    });
    expect(deployment.message).toMatch(
      /^an instance of 2\.0\.0 did not become ready: kubernetes: Deployment pl-kube-crashcanary\/pl-kube-crashcanary-2-0-0-canary cannot start \S+: pod \S+ container plugin: CrashLoopBackOff \(back-off 10s restarting failed container\), 3 restarts$/,
    );
    expect(plugin).toMatchObject({
      state: 'running',
      currentVersion: '1.0.0',
      lastError: `update 1.0.0 -> 2.0.0 rolled-back: ${deployment.message}`,
    });
    await expectOnlyOldVersionLeft(namespace, 'kube-crashcanary', oldIds);
  }, 240_000);
});
