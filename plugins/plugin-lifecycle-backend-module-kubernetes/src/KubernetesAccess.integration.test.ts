import { ConfigReader } from '@backstage/config';
import {
  KUBE_RESTRICTED_USER,
  KubeTestCluster,
  describeWithKube,
} from '@internal/kube-test-cluster';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { loadKubeConfig, readKubernetesRuntimeConfig } from './config';
import {
  assertRights,
  missingRights,
  requiredRights,
} from './KubernetesAccess';

// A real kube-apiserver 1.20 (RBAC, token users); see docs/kubernetes-testing.md.

const runtimeConfig = (kubeconfig: string) =>
  readKubernetesRuntimeConfig(
    new ConfigReader({
      pluginLifecycle: {
        runtime: { kubernetes: { kubeconfig, namespace: 'plugins' } },
      },
    }),
  );

describeWithKube('kubernetes runtime: cluster access', binaries => {
  let cluster: KubeTestCluster;

  beforeAll(async () => {
    cluster = await KubeTestCluster.start({ binaries });
    await cluster.createNamespace('plugins');
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('reads a kubeconfig file from app-config and has every right as the admin', async () => {
    const config = runtimeConfig(cluster.kubeconfigPath());
    const kc = loadKubeConfig(config);
    expect(kc.getCurrentCluster()?.server).toBe(cluster.server);
    await expect(
      missingRights(
        kc,
        requiredRights(config.namespace, { createNamespace: true }),
      ),
    ).resolves.toEqual([]);
    await expect(assertRights(kc, config.namespace)).resolves.toBeUndefined();
  }, 60_000);

  it('names the user and every missing right of an identity without them', async () => {
    const kc = loadKubeConfig(
      runtimeConfig(cluster.kubeconfigPath(KUBE_RESTRICTED_USER)),
    );
    const missing = await missingRights(kc, requiredRights('plugins'));
    expect(missing).toHaveLength(requiredRights('plugins').length);
    await expect(assertRights(kc, 'plugins')).rejects.toThrow(
      "the kubernetes runtime's identity (restricted) may not " +
        'get, list, watch, create, patch, update, delete deployments.apps in namespace plugins; ' +
        'get, list, watch, create, patch, delete services in namespace plugins; ' +
        'get, list, create, update, patch, delete secrets in namespace plugins; ' +
        'get, list, watch, patch, delete pods in namespace plugins; ' +
        'list replicasets.apps in namespace plugins: grant them with a Role and RoleBinding',
    );
  }, 60_000);

  it('sees a grant: only what the Role leaves out is missing', async () => {
    const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: 'plugins',
      body: {
        metadata: { name: 'runtime' },
        rules: [
          {
            apiGroups: ['apps'],
            resources: ['deployments', 'replicasets'],
            verbs: ['*'],
          },
          {
            apiGroups: [''],
            resources: ['services', 'secrets', 'pods'],
            verbs: ['*'],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: 'plugins',
      body: {
        metadata: { name: 'runtime' },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'Role',
          name: 'runtime',
        },
        subjects: [{ kind: 'User', name: KUBE_RESTRICTED_USER }],
      },
    });
    const kc = loadKubeConfig(
      runtimeConfig(cluster.kubeconfigPath(KUBE_RESTRICTED_USER)),
    );
    await expect(assertRights(kc, 'plugins')).resolves.toBeUndefined();
    // Creating namespaces is cluster-wide: a namespaced Role cannot grant it.
    await expect(
      assertRights(kc, 'plugins', { createNamespace: true }),
    ).rejects.toThrow(
      "the kubernetes runtime's identity (restricted) may not create namespaces: grant them with a Role and RoleBinding",
    );
  }, 60_000);
});
