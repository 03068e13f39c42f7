/*
 * The kubernetes runtime driven by the real backend over HTTP: operations
 * install, start, stop and uninstall a plugin whose artifact is an image,
 * on a real Kubernetes 1.20 control plane with a kubelet stand-in
 * (docs/kubernetes-testing.md). No container runs and pod IPs are
 * unroutable, so the plugin has no HTTP or TCP probes the backend would send
 * to its pods; readiness is what the stand-in reports.
 */
import { mockCredentials } from '@backstage/backend-test-utils';
import {
  KubeTestCluster,
  describeWithKube,
  waitFor,
  type PodBehaviour,
} from '@internal/kube-test-cluster';
import { pluginLifecycleModuleKubernetesRuntime } from '@internal/plugin-lifecycle-backend-module-kubernetes';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForOperation,
} from './__testUtils__/testBackend';

const auth = mockCredentials.user.header('user:default/alice');
const api = (p: string) => `/api/plugin-lifecycle${p}`;
const image = (name: string) => ({
  type: 'image',
  image: `registry.example.com/${name}:1.0.0`,
  port: 7007,
});

describeWithKube('kubernetes runtime through the backend', binaries => {
  let cluster: KubeTestCluster;
  let backend: Awaited<ReturnType<typeof startLifecycleBackend>>;
  let apps: AppsV1Api;
  let core: CoreV1Api;

  beforeAll(async () => {
    cluster = await KubeTestCluster.start({ binaries });
    await cluster.createNamespace('plugins');
    await cluster.startKubelet({
      intervalMs: 150,
      podBehaviour: (pod: V1Pod): PodBehaviour => {
        // A container takes a moment to start: a new pod stays Pending.
        const created = new Date(pod.metadata?.creationTimestamp ?? 0);
        if (Date.now() - created.getTime() < 1_500) return { state: 'ignore' };
        const plugin =
          pod.metadata?.labels?.['plugin-lifecycle.backstage.io/plugin'];
        if (plugin !== 'kube-crashy') return { state: 'ready' };
        return {
          state: 'waiting',
          reason: 'CrashLoopBackOff',
          message: 'back-off 20s restarting failed container',
          restartCount: 2,
        };
      },
    });
    apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    backend = await startLifecycleBackend({
      pluginId: 'kube-hello',
      config: {
        orchestrator: { defaultTimeout: 60_000 },
        runtime: {
          restartPolicy: { maxRestarts: 0 },
          kubernetes: {
            kubeconfig: cluster.kubeconfigPath(),
            namespace: 'plugins',
          },
        },
        plugins: {
          'kube-hello': {
            runtime: 'kubernetes',
            artifact: image('hello'),
            // The operator's size: what each pod is given.
            resources: { cpu: '250m', memory: '128Mi' },
          },
          'kube-crashy': { runtime: 'kubernetes', artifact: image('crashy') },
        },
      },
      features: [pluginLifecycleModuleKubernetesRuntime],
    });
  }, 240_000);

  afterAll(async () => {
    await backend?.stop();
    await cluster?.stop();
  }, 60_000);

  async function act(pluginId: string, action: string, body: object = {}) {
    const res = await request(backend.server)
      .post(api(`/plugins/${pluginId}/${action}`))
      .set('Authorization', auth)
      .send(body);
    expect(res.status).toBe(202);
    return waitForOperation(backend.server, auth, res.body.operationId, 90_000);
  }

  it('installs, starts, stops and uninstalls a plugin as a Deployment on the cluster', async () => {
    expect(
      await act('kube-hello', 'install', {
        version: '1.0.0',
        replicas: 2,
        configuration: [{ key: 'greeting', value: 'hello', type: 'string' }],
      }),
    ).toMatchObject({ status: 'succeeded' });
    expect(await act('kube-hello', 'start')).toMatchObject({
      status: 'succeeded',
    });
    const plugin = (
      await request(backend.server)
        .get(api('/plugins/kube-hello'))
        .set('Authorization', auth)
    ).body;
    expect(plugin.state).toBe('running');
    // Installed without probes: judged by its pods' readiness.
    const health = await waitFor('the pod probes passing', async () => {
      const body = (
        await request(backend.server)
          .get(api('/plugins/kube-hello/health'))
          .set('Authorization', auth)
      ).body;
      return body.instances?.length === 2 &&
        body.instances.every(
          (i: { verdict: string }) => i.verdict === 'healthy',
        )
        ? body
        : undefined;
    });
    for (const instance of health.instances) {
      expect(instance.probes).toEqual([
        expect.objectContaining({
          name: 'pod-ready',
          method: 'custom',
          lastOk: true,
          lastMessage: expect.stringMatching(
            /^pod plugins\/pl-kube-hello-1-0-0-stable-.* is ready$/,
          ),
        }),
      ]);
    }
    const live = plugin.instances.filter(
      (i: { status: string }) => i.status === 'running',
    );
    expect(live).toHaveLength(2);
    for (const instance of live) {
      expect(instance).toMatchObject({
        host: expect.stringMatching(/^198\.19\./),
        port: 7007,
        runtime: 'kubernetes',
      });
    }
    const name = 'pl-kube-hello-1-0-0-stable';
    const deployment = await apps.readNamespacedDeployment({
      name,
      namespace: 'plugins',
    });
    expect(deployment.spec?.replicas).toBe(2);
    expect(deployment.spec?.template.spec?.containers[0].resources).toEqual({
      requests: { cpu: '250m', memory: '128Mi' },
      limits: { cpu: '250m', memory: '128Mi' },
    });
    const pods = await core.listNamespacedPod({
      namespace: 'plugins',
      labelSelector: 'plugin-lifecycle.backstage.io/plugin=kube-hello',
    });
    expect(
      pods.items
        .map(
          p => p.metadata?.labels?.['plugin-lifecycle.backstage.io/instance'],
        )
        .sort(),
    ).toEqual(live.map((i: { id: string }) => i.id).sort());
    const secret = await core.readNamespacedSecret({
      name: `${name}-env`,
      namespace: 'plugins',
    });
    expect(
      Buffer.from(secret.data!.PLUGIN_CONFIG_GREETING, 'base64').toString(),
    ).toBe('hello');

    expect(await act('kube-hello', 'stop')).toMatchObject({
      status: 'succeeded',
    });
    expect(
      (await apps.readNamespacedDeployment({ name, namespace: 'plugins' })).spec
        ?.replicas,
    ).toBe(0);

    expect(await act('kube-hello', 'uninstall')).toMatchObject({
      status: 'succeeded',
    });
    const left = await apps.listNamespacedDeployment({
      namespace: 'plugins',
      labelSelector: 'plugin-lifecycle.backstage.io/plugin=kube-hello',
    });
    expect(left.items).toEqual([]);
  }, 180_000);

  it("fails the start operation with the pod's crash loop", async () => {
    expect(
      await act('kube-crashy', 'install', { version: '1.0.0' }),
    ).toMatchObject({ status: 'succeeded' });
    const op = await act('kube-crashy', 'start');
    expect(op.status).toBe('failed');
    expect(op.error).toMatch(
      /Deployment plugins\/pl-kube-crashy-1-0-0-stable cannot start .*CrashLoopBackOff \(back-off 20s restarting failed container\), 2 restarts/,
    );
  }, 120_000);
});
