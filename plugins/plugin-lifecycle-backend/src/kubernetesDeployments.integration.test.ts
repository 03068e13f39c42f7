/*
 * Deployment strategies on the kubernetes runtime, driven through the real
 * backend's API, on a real Kubernetes 1.20 control plane with a kubelet
 * stand-in (docs/kubernetes-testing.md). No container runs and pod IPs are
 * unroutable, so no request reaches a pod: weights are checked where our
 * data planes take them (the deployment's traffic split and discovery's
 * instances), and health is the pods' readiness as the cluster reports it
 * (the module's `kubernetes-pod` probe), not HTTP probes.
 */
import { mockCredentials } from '@backstage/backend-test-utils';
import {
  KubeTestCluster,
  describeWithKube,
  waitFor,
  type PodBehaviour,
} from '@internal/kube-test-cluster';
import {
  INSTANCE_LABEL,
  KUBERNETES_POD_PROBE,
  pluginLifecycleModuleKubernetesRuntime,
  TRACK_LABEL,
  VERSION_LABEL,
} from '@internal/plugin-lifecycle-backend-module-kubernetes';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForDeployment,
  waitForOperation,
} from './__testUtils__/testBackend';

const auth = mockCredentials.user.header('user:default/alice');
const api = (p: string) => `/api/plugin-lifecycle${p}`;
const NAMESPACE = 'rollouts';
const PLUGINS = [
  'kube-canary',
  'kube-bluegreen',
  'kube-rollback',
  'kube-ab',
  'kube-rolling',
  'kube-recreate',
];

/** The pod readiness the cluster reports, as the plugin's only probe. */
const POD_PROBE = [
  {
    name: 'pod-ready',
    type: 'readiness',
    method: 'custom',
    custom: { name: KUBERNETES_POD_PROBE },
    periodSeconds: 1,
    timeoutSeconds: 5,
    failureThreshold: 1,
    successThreshold: 1,
  },
];

describeWithKube(
  'deployment strategies on the kubernetes runtime',
  binaries => {
    let cluster: KubeTestCluster;
    let backend: Awaited<ReturnType<typeof startLifecycleBackend>>;
    let apps: AppsV1Api;
    let core: CoreV1Api;
    /** From when on kube-rollback's 1.1.0 instances fail their readiness. */
    let breakCanary = false;

    beforeAll(async () => {
      cluster = await KubeTestCluster.start({ binaries });
      await cluster.createNamespace(NAMESPACE);
      await cluster.startKubelet({
        intervalMs: 150,
        podBehaviour: (pod: V1Pod): PodBehaviour => {
          const labels = pod.metadata?.labels ?? {};
          if (
            breakCanary &&
            labels['plugin-lifecycle.backstage.io/plugin'] ===
              'kube-rollback' &&
            labels[VERSION_LABEL] === '1.1.0' &&
            labels[INSTANCE_LABEL]
          ) {
            // Running, but its readiness probe fails.
            return { state: 'running' };
          }
          return { state: 'ready' };
        },
      });
      apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
      core = cluster.kubeConfig().makeApiClient(CoreV1Api);
      backend = await startLifecycleBackend({
        pluginId: PLUGINS[0],
        config: {
          orchestrator: { defaultTimeout: 90_000 },
          runtime: {
            restartPolicy: { maxRestarts: 0 },
            kubernetes: {
              kubeconfig: cluster.kubeconfigPath(),
              namespace: NAMESPACE,
            },
          },
          deployments: { tickInterval: 200 },
          plugins: Object.fromEntries(
            PLUGINS.map(id => [
              id,
              {
                runtime: 'kubernetes',
                artifact: {
                  type: 'image',
                  image: `registry.example.com/${id}:\${version}`,
                  port: 7007,
                },
              },
            ]),
          ),
        },
        features: [pluginLifecycleModuleKubernetesRuntime],
      });
    }, 240_000);

    afterAll(async () => {
      await backend?.stop();
      await cluster?.stop();
    }, 60_000);

    const get = async (path: string) => {
      const res = await request(backend.server)
        .get(api(path))
        .set('Authorization', auth);
      expect(res.status).toBe(200);
      return res.body;
    };
    const post = (path: string, body: object = {}) =>
      request(backend.server)
        .post(api(path))
        .set('Authorization', auth)
        .send(body);

    async function installRunning(pluginId: string) {
      const res = await post(`/plugins/${pluginId}/install`, {
        version: '1.0.0',
        replicas: 2,
        healthProbes: POD_PROBE,
        start: true,
      });
      expect(res.status).toBe(202);
      const op = await waitForOperation(
        backend.server,
        auth,
        res.body.operationId,
        120_000,
      );
      expect({ status: op.status, error: op.error }).toEqual({
        status: 'succeeded',
        error: undefined,
      });
      await waitFor(`${pluginId} running`, async () =>
        (await get(`/plugins/${pluginId}`)).state === 'running'
          ? true
          : undefined,
      );
    }

    async function update(pluginId: string, body: object) {
      const res = await post(`/plugins/${pluginId}/update`, {
        version: '1.1.0',
        ...body,
      });
      expect(res.status).toBe(202);
      return res.body.deploymentId as string;
    }

    /** The plugin's live pods on the cluster, as version/track -> instance ids. */
    async function podsByTrack(pluginId: string) {
      const pods = await core.listNamespacedPod({
        namespace: NAMESPACE,
        labelSelector: `plugin-lifecycle.backstage.io/plugin=${pluginId}`,
      });
      const result: Record<string, string[]> = {};
      for (const p of pods.items) {
        if (p.metadata?.deletionTimestamp) continue;
        const l = p.metadata!.labels!;
        const key = `${l[VERSION_LABEL]}/${l[TRACK_LABEL]}`;
        (result[key] ??= []).push(l[INSTANCE_LABEL] ?? '(unclaimed)');
      }
      for (const ids of Object.values(result)) ids.sort();
      return result;
    }

    /** The backend's running instances, as version/track -> instance ids. */
    async function instancesByTrack(pluginId: string) {
      const plugin = await get(`/plugins/${pluginId}`);
      const result: Record<string, string[]> = {};
      for (const i of plugin.instances) {
        if (i.status !== 'running') continue;
        (result[`${i.version}/${i.track}`] ??= []).push(i.id);
      }
      for (const ids of Object.values(result)) ids.sort();
      return result;
    }

    /**
     * Waits until only the new version's pods are left and checks that the
     * cluster's pods are the backend's instances, all 1.1.0 and stable;
     * returns them (version/track -> instance ids).
     */
    async function expectAllOnNewStable(pluginId: string) {
      await waitFor(`${pluginId}: only 1.1.0 pods left`, async () => {
        const pods = await podsByTrack(pluginId);
        return Object.keys(pods).length === 1 ? pods : undefined;
      });
      const after = await instancesByTrack(pluginId);
      expect(Object.keys(after)).toEqual(['1.1.0/stable']);
      expect(after['1.1.0/stable']).toHaveLength(2);
      expect(await podsByTrack(pluginId)).toEqual(after);
      return after;
    }

    /** Deployment name -> [replicas, track label] for the plugin. */
    async function workloads(pluginId: string) {
      const list = await apps.listNamespacedDeployment({
        namespace: NAMESPACE,
        labelSelector: `plugin-lifecycle.backstage.io/plugin=${pluginId}`,
      });
      return Object.fromEntries(
        list.items.map(d => [
          d.metadata!.name!,
          [d.spec?.replicas, d.metadata?.labels?.[TRACK_LABEL]],
        ]),
      );
    }

    it('runs a canary as its own Deployment with the weights in our data planes, and promotes it by relabelling its pods stable', async () => {
      const pluginId = 'kube-canary';
      await installRunning(pluginId);
      const id = await update(pluginId, {
        deploymentStrategy: 'canary',
        deploymentConfig: {
          canary: {
            steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 100 }],
          },
        },
      });
      const paused = await waitForDeployment(backend.server, auth, id, {
        phases: ['paused'],
        timeoutMs: 120_000,
      });
      expect(paused.traffic).toEqual({ '1.0.0': 75, '1.1.0': 25 });
      const canaryIds = [...paused.instances['1.1.0']].sort();
      expect(canaryIds.length).toBeGreaterThan(0);
      // The cluster and the backend agree, instance by instance.
      const during = await instancesByTrack(pluginId);
      expect(await podsByTrack(pluginId)).toEqual(during);
      expect(during['1.1.0/canary']).toEqual(canaryIds);
      expect(during['1.0.0/stable']).toHaveLength(2);
      expect(await workloads(pluginId)).toEqual({
        'pl-kube-canary-1-0-0-stable': [2, 'stable'],
        'pl-kube-canary-1-1-0-canary': [canaryIds.length, 'canary'],
      });
      const canaryDeployment = await apps.readNamespacedDeployment({
        name: 'pl-kube-canary-1-1-0-canary',
        namespace: NAMESPACE,
      });
      expect(canaryDeployment.spec!.template.spec!.containers[0].image).toBe(
        'registry.example.com/kube-canary:1.1.0',
      );
      // Our data planes route by the split: discovery's load balancer picks
      // the canary's pods for about a quarter of the picks.
      const picks: Record<string, number> = {};
      for (let i = 0; i < 400; i++) {
        const picked = await get(`/services/${pluginId}/resolve`);
        picks[picked.version] = (picks[picked.version] ?? 0) + 1;
        expect(picked.host).toMatch(/^198\.1[89]\./);
      }
      expect(picks['1.1.0']).toBeGreaterThan(50);
      expect(picks['1.1.0']).toBeLessThan(150);
      expect(picks['1.0.0'] + picks['1.1.0']).toBe(400);

      expect((await post(`/deployments/${id}/promote`, {})).status).toBe(200);
      const done = await waitForDeployment(backend.server, auth, id, {
        timeoutMs: 120_000,
      });
      expect({ phase: done.phase, message: done.message }).toMatchObject({
        phase: 'succeeded',
      });
      const after = await expectAllOnNewStable(pluginId);
      // The canary's pods were promoted in place, not replaced.
      expect(after['1.1.0/stable']).toEqual(expect.arrayContaining(canaryIds));
      // The canary set grew to the full count at weight 100 and now serves
      // stable; the old version's set is empty.
      expect(await workloads(pluginId)).toEqual({
        'pl-kube-canary-1-0-0-stable': [0, 'stable'],
        'pl-kube-canary-1-1-0-canary': [2, 'stable'],
      });
    }, 300_000);

    it('runs blue-green as a green Deployment beside the blue one, then switches and removes blue', async () => {
      const pluginId = 'kube-bluegreen';
      await installRunning(pluginId);
      const id = await update(pluginId, {
        deploymentStrategy: 'blue-green',
        deploymentConfig: {
          blueGreen: { requireApproval: true, scaleDownDelay: 1_000 },
        },
      });
      const waiting = await waitForDeployment(backend.server, auth, id, {
        phases: ['awaiting-approval'],
        timeoutMs: 120_000,
      });
      expect(waiting.traffic).toEqual({ '1.0.0': 100, '1.1.0': 0 });
      expect(await workloads(pluginId)).toEqual({
        'pl-kube-bluegreen-1-0-0-stable': [2, 'stable'],
        'pl-kube-bluegreen-1-1-0-green': [2, 'green'],
      });
      expect(await podsByTrack(pluginId)).toEqual(
        await instancesByTrack(pluginId),
      );
      expect((await post(`/deployments/${id}/approve`, {})).status).toBe(200);
      const done = await waitForDeployment(backend.server, auth, id, {
        timeoutMs: 120_000,
      });
      expect(done.phase).toBe('succeeded');
      await expectAllOnNewStable(pluginId);
      expect(
        (await workloads(pluginId))['pl-kube-bluegreen-1-1-0-green'],
      ).toEqual([2, 'stable']);
    }, 300_000);

    it('runs an A/B test as a b Deployment and promotes the winner in place', async () => {
      const pluginId = 'kube-ab';
      await installRunning(pluginId);
      const id = await update(pluginId, {
        deploymentStrategy: 'a-b-testing',
        deploymentConfig: {
          abTesting: {
            match: { header: { name: 'x-variant', value: 'b' } },
            duration: 500,
            winner: 'manual',
          },
        },
      });
      const waiting = await waitForDeployment(backend.server, auth, id, {
        phases: ['paused'],
        timeoutMs: 120_000,
      });
      expect(waiting.match).toEqual({
        header: { name: 'x-variant', value: 'b' },
      });
      expect(await workloads(pluginId)).toEqual({
        'pl-kube-ab-1-0-0-stable': [2, 'stable'],
        'pl-kube-ab-1-1-0-b': [1, 'b'],
      });
      expect(await podsByTrack(pluginId)).toEqual(
        await instancesByTrack(pluginId),
      );
      expect(
        (await post(`/deployments/${id}/promote`, { winner: '1.1.0' })).status,
      ).toBe(200);
      const done = await waitForDeployment(backend.server, auth, id, {
        timeoutMs: 120_000,
      });
      expect({ phase: done.phase, winner: done.winner }).toEqual({
        phase: 'succeeded',
        winner: '1.1.0',
      });
      await expectAllOnNewStable(pluginId);
    }, 300_000);

    it.each(['rolling', 'recreate'])(
      'replaces the stable set with a %s update, one Deployment per version',
      async strategy => {
        const pluginId = `kube-${strategy}`;
        await installRunning(pluginId);
        const id = await update(pluginId, { deploymentStrategy: strategy });
        const done = await waitForDeployment(backend.server, auth, id, {
          timeoutMs: 120_000,
        });
        expect({ phase: done.phase, message: done.message }).toMatchObject({
          phase: 'succeeded',
        });
        await expectAllOnNewStable(pluginId);
        expect(await workloads(pluginId)).toEqual({
          [`pl-${pluginId}-1-0-0-stable`]: [0, 'stable'],
          [`pl-${pluginId}-1-1-0-stable`]: [2, 'stable'],
        });
      },
      300_000,
    );

    it('rolls back automatically when the canary pods stop being ready, restoring the stable set and removing only what the rollout made', async () => {
      const pluginId = 'kube-rollback';
      await installRunning(pluginId);
      // Something of someone else's, with our plugin label but not our managed-by label.
      await core.createNamespacedConfigMap({
        namespace: NAMESPACE,
        body: {
          metadata: {
            name: 'kube-rollback-notes',
            labels: {
              'plugin-lifecycle.backstage.io/plugin': pluginId,
              [VERSION_LABEL]: '1.1.0',
            },
          },
          data: { owner: 'someone else' },
        },
      });
      const stableBefore = (await podsByTrack(pluginId))['1.0.0/stable'];
      expect(stableBefore).toHaveLength(2);
      const id = await update(pluginId, {
        deploymentStrategy: 'canary',
        deploymentConfig: {
          canary: {
            steps: [
              { setWeight: 50 },
              {
                analysis: {
                  duration: 120_000,
                  minRequests: 1,
                  onInsufficientData: 'wait-for-approval',
                  requireHealthy: true,
                },
              },
              { setWeight: 100 },
            ],
          },
        },
      });
      const analysing = await waitFor('the analysis step', async () => {
        const d = await get(`/deployments/${id}`);
        return d.currentStep >= 1 && d.phase === 'progressing' ? d : undefined;
      });
      expect(analysing.traffic).toEqual({ '1.0.0': 50, '1.1.0': 50 });
      expect(
        (await podsByTrack(pluginId))['1.1.0/canary']?.length,
      ).toBeGreaterThan(0);

      breakCanary = true;
      const done = await waitForDeployment(backend.server, auth, id, {
        timeoutMs: 120_000,
      });
      expect(done.phase).toBe('rolled-back');
      expect(done.message).toMatch(/instance\(s\) of 1\.1\.0 unhealthy/);
      const plugin = await get(`/plugins/${pluginId}`);
      expect(plugin.state).toBe('running');
      expect(plugin.currentVersion).toBe('1.0.0');
      // The same stable pods serve on; nothing of 1.1.0 is left.
      await waitFor('the canary gone', async () => {
        const pods = await podsByTrack(pluginId);
        return Object.keys(pods).length === 1 ? pods : undefined;
      });
      expect(await podsByTrack(pluginId)).toEqual({
        '1.0.0/stable': stableBefore,
      });
      expect(await workloads(pluginId)).toEqual({
        'pl-kube-rollback-1-0-0-stable': [2, 'stable'],
      });
      const services = await core.listNamespacedService({
        namespace: NAMESPACE,
        labelSelector: `plugin-lifecycle.backstage.io/plugin=${pluginId}`,
      });
      expect(services.items.map(s => s.metadata?.name)).toEqual([
        'pl-kube-rollback-1-0-0-stable',
      ]);
      const secrets = await core.listNamespacedSecret({
        namespace: NAMESPACE,
        labelSelector: `plugin-lifecycle.backstage.io/plugin=${pluginId}`,
      });
      expect(secrets.items.map(s => s.metadata?.name)).toEqual([
        'pl-kube-rollback-1-0-0-stable-env',
      ]);
      const foreign = await core.readNamespacedConfigMap({
        name: 'kube-rollback-notes',
        namespace: NAMESPACE,
      });
      expect(foreign.data).toEqual({ owner: 'someone else' });
    }, 300_000);
  },
);
