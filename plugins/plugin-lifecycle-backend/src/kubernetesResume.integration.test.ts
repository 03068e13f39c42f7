/*
 * Issue #17: the backend killed mid-rollout resumes against the cluster. A
 * real backend replica (dev/replica.ts) with the kubernetes runtime runs two
 * plugins as pods on a real Kubernetes 1.20 control plane with a kubelet
 * stand-in (docs/kubernetes-testing.md); both are in a canary paused at 50%
 * when the replica's process group is SIGKILLed. The pods outlive it; the
 * replica started again on the same SQLite files adopts them, then one
 * canary is promoted to the end and the other aborted. No container runs and
 * pod IPs are unroutable, so the plugins have no HTTP or TCP probes and no
 * request is proxied to a pod; readiness is what the stand-in reports.
 */
import fs from 'node:fs';
import {
  KubeTestCluster,
  describeWithKube,
  type PodBehaviour,
} from '@internal/kube-test-cluster';
import {
  INSTANCE_LABEL,
  PLUGIN_LABEL,
  TRACK_LABEL,
  VERSION_LABEL,
} from '@internal/plugin-lifecycle-backend-module-kubernetes';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { Deployment } from '@internal/plugin-lifecycle-common';
import {
  Replica,
  callReplica,
  eventually,
  getDeployment,
  getInstances,
  installSample,
  startReplica,
} from './__testUtils__/rolloutReplicas';

jest.setTimeout(300_000);

const NAMESPACE = 'plugins';
const PROMOTED = 'kresume-promote';
const ABORTED = 'kresume-abort';
const MID_START = 'kresume-midstart';
const LEASE_MS = 3000;

/** A pod as the test compares it across the kill: which one it is and whose. */
interface PodView {
  name: string;
  uid: string;
  version: string;
  track: string;
  instance?: string;
}

const view = (p: V1Pod): PodView => ({
  name: p.metadata!.name!,
  uid: p.metadata!.uid!,
  version: p.metadata!.labels![VERSION_LABEL],
  track: p.metadata!.labels![TRACK_LABEL],
  instance: p.metadata!.labels![INSTANCE_LABEL],
});
const byName = (a: PodView, b: PodView) => a.name.localeCompare(b.name);

describeWithKube(
  'a backend SIGKILLed mid-canary on kubernetes resumes against the cluster',
  binaries => {
    let cluster: KubeTestCluster;
    let apps: AppsV1Api;
    let core: CoreV1Api;
    let replica: Replica | undefined;
    /** Plugins whose 1.1.0 pods the stand-in keeps Pending (a slow image pull). */
    const held = new Set<string>();
    let options: Parameters<typeof startReplica>[0];
    /** Per plugin: its deployment, and its pods and serving instances just before the kill. */
    const before: Record<
      string,
      { deploymentId: string; pods: PodView[]; instances: string[] }
    > = {};

    /** The plugin's pods on the cluster that are not being deleted. */
    async function livePods(pluginId: string): Promise<PodView[]> {
      const pods = await core.listNamespacedPod({
        namespace: NAMESPACE,
        labelSelector: `${PLUGIN_LABEL}=${pluginId}`,
      });
      return pods.items
        .filter(p => !p.metadata?.deletionTimestamp)
        .map(view)
        .sort(byName);
    }

    /** The plugin's Deployments' replicas, by `<version>/<track>`. */
    async function deploymentReplicas(pluginId: string) {
      const list = await apps.listNamespacedDeployment({
        namespace: NAMESPACE,
        labelSelector: `${PLUGIN_LABEL}=${pluginId}`,
      });
      return Object.fromEntries(
        list.items.map(d => [
          `${d.metadata!.labels![VERSION_LABEL]}/${
            d.metadata!.labels![TRACK_LABEL]
          }`,
          d.spec?.replicas,
        ]),
      );
    }

    async function servingInstances(pluginId: string) {
      return (await getInstances(replica!, pluginId)).instances
        .filter(i => i.status === 'running')
        .map(i => ({ id: i.id, version: i.version }))
        .sort((a, b) => a.id.localeCompare(b.id));
    }

    /**
     * The cluster at rest agrees with the backend: exactly one live pod per
     * serving instance (none unclaimed, none doubled), of its version.
     */
    async function podsMatchInstances(pluginId: string) {
      let last = '';
      return eventually(
        `${pluginId}: one pod per serving instance, none unclaimed`,
        async () => {
          const [pods, serving] = [
            await livePods(pluginId),
            await servingInstances(pluginId),
          ];
          const claimed = pods
            .map(p => ({ id: p.instance, version: p.version }))
            .sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
          last = `pods ${JSON.stringify(pods)}, serving ${JSON.stringify(
            serving,
          )}`;
          return JSON.stringify(claimed) === JSON.stringify(serving)
            ? { pods, serving }
            : undefined;
        },
        30_000,
        250,
      ).catch(error => {
        throw new Error(`${error.message}: last seen ${last}`);
      });
    }

    async function act(deploymentId: string, action: string) {
      const res = await callReplica(
        replica!,
        'POST',
        `/deployments/${deploymentId}/${action}`,
        {},
      );
      expect({ action, status: res.status, body: res.body }).toMatchObject({
        status: 200,
      });
    }

    /** Begins a canary to 1.1.0 that pauses at 50% until promoted; its id. */
    async function beginCanary(pluginId: string): Promise<string> {
      const res = await callReplica(
        replica!,
        'POST',
        `/plugins/${pluginId}/update`,
        {
          version: '1.1.0',
          deploymentStrategy: 'CANARY',
          deploymentConfig: {
            canary: {
              steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }],
            },
          },
        },
      );
      expect(res.status).toBe(202);
      return res.body.deploymentId;
    }

    /** Waits for the deployment to wait at its pause (at 50%) until promoted. */
    async function untilPaused(deploymentId: string) {
      return eventually(
        `deployment ${deploymentId} pauses at 50%`,
        async () => {
          const d = await getDeployment(replica!, deploymentId);
          const step = d.steps[d.currentStep];
          return d.phase === 'paused' && step?.kind === 'pause' ? d : undefined;
        },
        120_000,
        200,
      );
    }

    /** Waits for the deployment to end, promoting it past every pause. */
    async function untilEnded(deploymentId: string, promote: boolean) {
      return eventually(
        `deployment ${deploymentId} ends`,
        async (): Promise<Deployment | undefined> => {
          const d = await getDeployment(replica!, deploymentId);
          if (promote && d.phase === 'paused')
            await act(deploymentId, 'promote');
          return ['progressing', 'paused', 'pending', 'rolling-back'].includes(
            d.phase,
          )
            ? undefined
            : d;
        },
        150_000,
        250,
      );
    }

    beforeAll(async () => {
      cluster = await KubeTestCluster.start({ binaries });
      await cluster.createNamespace(NAMESPACE);
      // The cluster's "kubelet" lives on when the backend dies, as a real one does.
      await cluster.startKubelet({
        intervalMs: 150,
        podBehaviour: (pod: V1Pod): PodBehaviour => {
          // A container takes a moment to start: a new pod stays Pending.
          const created = new Date(pod.metadata?.creationTimestamp ?? 0);
          const labels = pod.metadata?.labels ?? {};
          const isHeld =
            held.has(labels[PLUGIN_LABEL]) && labels[VERSION_LABEL] === '1.1.0';
          return isHeld || Date.now() - created.getTime() < 1_500
            ? { state: 'ignore' }
            : { state: 'ready' };
        },
      });
      apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
      core = cluster.kubeConfig().makeApiClient(CoreV1Api);
      const artifact = {
        type: 'image',
        image: 'registry.example.com/resume:1.0.0',
        port: 7007,
      };
      options = {
        name: 'kube-resume',
        databasePrefix: 'plt_kresume_',
        processGroup: true,
        outputLimit: 400_000,
        env: { LOG_LEVEL: 'info', REPLICA_KUBERNETES: '1' },
        orchestrator: { defaultTimeout: 90_000 },
        pluginLifecycle: {
          defaultRuntime: 'kubernetes',
          plugins: {
            [PROMOTED]: { runtime: 'kubernetes', artifact },
            [ABORTED]: { runtime: 'kubernetes', artifact },
            [MID_START]: { runtime: 'kubernetes', artifact },
          },
          runtime: {
            restartPolicy: { maxRestarts: 0 },
            kubernetes: {
              kubeconfig: cluster.kubeconfigPath(),
              namespace: NAMESPACE,
            },
          },
          deployments: { tickInterval: 100, leaseDuration: LEASE_MS },
          // Instances outlive their backend (the default, said here on purpose).
          shutdown: { stopInstances: false },
        },
      };
    }, 240_000);

    afterAll(async () => {
      if (replica) {
        await replica.kill('SIGKILL');
        fs.rmSync(replica.dir, { recursive: true, force: true });
      }
      await cluster?.stop();
    }, 60_000);

    it('leaves both versions running on the cluster when killed during the canary', async () => {
      replica = await startReplica(options);
      for (const pluginId of [PROMOTED, ABORTED]) {
        await installSample(replica, pluginId, 2);
        before[pluginId] = {
          deploymentId: await beginCanary(pluginId),
          pods: [],
          instances: [],
        };
      }
      for (const pluginId of [PROMOTED, ABORTED]) {
        const { deploymentId } = before[pluginId];
        const atPause = await untilPaused(deploymentId);
        expect(atPause.traffic).toEqual({ '1.0.0': 50, '1.1.0': 50 });
        const { pods, serving } = await podsMatchInstances(pluginId);
        expect(pods.map(p => `${p.version}/${p.track}`).sort()).toEqual([
          '1.0.0/stable',
          '1.0.0/stable',
          '1.1.0/canary',
        ]);
        before[pluginId].pods = pods;
        before[pluginId].instances = serving.map(i => i.id);
      }

      const killedAt = Date.now();
      await replica.kill('SIGKILL');
      // The pods outlive the backend: the same ones (names and UIDs), none added.
      for (const pluginId of [PROMOTED, ABORTED]) {
        expect(await livePods(pluginId)).toEqual(before[pluginId].pods);
      }

      replica = await startReplica({ ...options, restartOf: replica });
      // eslint-disable-next-line no-console
      console.log(
        `kubernetes resume: backend up again ${
          Date.now() - killedAt
        } ms after the kill`,
      );
    });

    it('adopts the pods it left: the same pods serve the same instances, none recreated', async () => {
      for (const pluginId of [PROMOTED, ABORTED]) {
        expect((await servingInstances(pluginId)).map(i => i.id)).toEqual(
          before[pluginId].instances,
        );
        expect(await livePods(pluginId)).toEqual(before[pluginId].pods);
        for (const id of before[pluginId].instances) {
          expect(replica!.output()).toContain(
            `adopted instance ${id} of plugin ${pluginId}`,
          );
        }
        // Still where it was killed: paused at 50%, waiting for a person.
        const d = await getDeployment(replica!, before[pluginId].deploymentId);
        expect({ phase: d.phase, traffic: d.traffic }).toEqual({
          phase: 'paused',
          traffic: { '1.0.0': 50, '1.1.0': 50 },
        });
      }
    });

    it('promoted, finishes with 1.1.0 on every pod and the old set scaled away', async () => {
      const { deploymentId, pods: podsBefore } = before[PROMOTED];
      const startedAt = Date.now();
      const done = await untilEnded(deploymentId, true);
      expect({ phase: done.phase, message: done.message }).toEqual({
        phase: 'succeeded',
        message: expect.anything(),
      });
      expect(done.traffic).toEqual({ '1.1.0': 100 });
      expect(await getInstances(replica!, PROMOTED)).toMatchObject({
        state: 'running',
        currentVersion: '1.1.0',
      });
      const { pods, serving } = await podsMatchInstances(PROMOTED);
      // eslint-disable-next-line no-console
      console.log(
        `kubernetes resume: promoted canary finished ${
          Date.now() - startedAt
        } ms after the promote`,
      );
      expect(serving.map(i => i.version)).toEqual(['1.1.0', '1.1.0']);
      // The canary pod from before the kill still serves: adopted, not replaced.
      const canary = podsBefore.find(p => p.version === '1.1.0')!;
      expect(pods).toContainEqual(
        expect.objectContaining({
          name: canary.name,
          uid: canary.uid,
          instance: canary.instance,
        }),
      );
      // Every 1.0.0 pod is gone, its Deployment at 0 replicas or removed.
      const uids = pods.map(p => p.uid);
      for (const old of podsBefore.filter(p => p.version === '1.0.0')) {
        expect(uids).not.toContain(old.uid);
      }
      const replicas = await deploymentReplicas(PROMOTED);
      // eslint-disable-next-line no-console
      console.log(
        `kubernetes resume: promoted: Deployments ${JSON.stringify(
          replicas,
        )}, pods ${JSON.stringify(pods.map(p => `${p.version}/${p.track}`))}`,
      );
      expect(replicas['1.0.0/stable'] ?? 0).toBe(0);
      expect(
        Object.entries(replicas)
          .filter(([key]) => key.startsWith('1.1.0/'))
          .reduce((sum, [, n]) => sum + (n ?? 0), 0),
      ).toBe(2);
    });

    it('aborted, rolls back to the stable set that was there before the kill', async () => {
      const { deploymentId, pods: podsBefore } = before[ABORTED];
      await act(deploymentId, 'abort');
      const done = await untilEnded(deploymentId, false);
      expect(done.phase).toBe('aborted');
      expect(await getInstances(replica!, ABORTED)).toMatchObject({
        state: 'running',
        currentVersion: '1.0.0',
      });
      const { pods } = await podsMatchInstances(ABORTED);
      // The very pods of the stable set serve on; the canary pod is gone.
      expect(pods).toEqual(podsBefore.filter(p => p.version === '1.0.0'));
      const replicas = await deploymentReplicas(ABORTED);
      // eslint-disable-next-line no-console
      console.log(
        `kubernetes resume: aborted: Deployments ${JSON.stringify(replicas)}`,
      );
      expect(replicas['1.0.0/stable']).toBe(2);
      expect(replicas['1.1.0/canary'] ?? 0).toBe(0);
    });

    it('killed while a canary pod is still starting, claims or removes that pod: none left over, none doubled', async () => {
      await replica?.kill('SIGTERM');
      replica = await startReplica({
        ...options,
        name: 'kube-resume-mid-start',
      });
      await installSample(replica, MID_START, 2);
      held.add(MID_START);
      const deploymentId = await beginCanary(MID_START);
      // The scale step waits for its pod: it exists, Pending, nobody's yet.
      const pending = await eventually(
        'a 1.1.0 pod is created',
        async () => {
          const pods = await livePods(MID_START);
          const canary = pods.filter(p => p.version === '1.1.0');
          return canary.length > 0 ? canary : undefined;
        },
        60_000,
        100,
      );
      expect(pending.map(p => p.instance)).toEqual([undefined]);
      await replica.kill('SIGKILL');
      replica = await startReplica({ ...options, restartOf: replica });
      held.delete(MID_START);
      const done = await untilEnded(deploymentId, true);
      expect(done.phase).toBe('succeeded');
      const { pods, serving } = await podsMatchInstances(MID_START);
      const replicas = await deploymentReplicas(MID_START);
      // eslint-disable-next-line no-console
      console.log(
        `kubernetes resume: killed mid-start: Deployments ${JSON.stringify(
          replicas,
        )}, pods ${JSON.stringify(
          pods.map(p => `${p.name} ${p.instance}`),
        )}, the pod pending at the kill ${pending[0].name}`,
      );
      expect(serving.map(i => i.version)).toEqual(['1.1.0', '1.1.0']);
      expect(
        Object.entries(replicas)
          .filter(([key]) => key.startsWith('1.1.0/'))
          .reduce((sum, [, n]) => sum + (n ?? 0), 0),
      ).toBe(2);
      expect(replicas['1.0.0/stable'] ?? 0).toBe(0);
    });
  },
);
