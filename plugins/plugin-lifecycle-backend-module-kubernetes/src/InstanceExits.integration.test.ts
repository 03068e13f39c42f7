import { ConfigReader } from '@backstage/config';
import {
  KubeTestCluster,
  describeWithKube,
  waitFor,
} from '@internal/kube-test-cluster';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import type { Artifact } from '@internal/plugin-lifecycle-common';
import type { RuntimeInstanceExit } from '@internal/plugin-lifecycle-node';
import { loadKubeConfig, readKubernetesRuntimeConfig } from './config';
import { KubernetesRuntime } from './KubernetesRuntime';
import { INSTANCE_LABEL, PLUGIN_LABEL } from './objects';

// Instances' pods that die on their own are reported by the pod watch, not
// by the slow re-read: the re-read interval here is 10 minutes. A real
// control plane 1.20 with a kubelet stand-in (docs/kubernetes-testing.md):
// no container runs, crash loops are what the stand-in is told to report.
const STARTUP_MS = 1_500;
const NAMESPACE = 'watched';

const image: Artifact = {
  type: 'image',
  image: 'registry.example.com/hello:1.0.0',
  port: 7007,
};

describeWithKube('Kubernetes instance exits from a pod watch', binaries => {
  let cluster: KubeTestCluster;
  let core: CoreV1Api;
  const crashing = new Set<string>();

  const runtime = () => {
    const config = readKubernetesRuntimeConfig(
      new ConfigReader({
        pluginLifecycle: {
          runtime: {
            kubernetes: {
              kubeconfig: cluster.kubeconfigPath(),
              namespace: NAMESPACE,
            },
          },
        },
      }),
    );
    return KubernetesRuntime.create({
      config,
      kubeConfig: loadKubeConfig(config),
      startTimeoutMs: 60_000,
      pollIntervalMs: 200,
      // Far beyond the test: only the watch can report in time.
      watchIntervalMs: 10 * 60_000,
    });
  };

  const start = async (r: KubernetesRuntime, pluginId: string) => {
    await r.install({ pluginId, version: '1.0.0', artifact: image });
    await r.startInstance({
      pluginId,
      version: '1.0.0',
      instanceId: `${pluginId}-1`,
      artifact: image,
      env: {},
    });
  };

  const podOf = async (instanceId: string) =>
    (
      await core.listNamespacedPod({
        namespace: NAMESPACE,
        labelSelector: `${INSTANCE_LABEL}=${instanceId}`,
      })
    ).items[0];

  const deleteFromOutside = async (instanceId: string) => {
    const pod = await podOf(instanceId);
    await core.deleteNamespacedPod({
      name: pod.metadata!.name!,
      namespace: NAMESPACE,
    });
  };

  const exitOf = (exits: RuntimeInstanceExit[], instanceId: string) =>
    waitFor(`the exit of ${instanceId}`, () =>
      exits.find(e => e.instanceId === instanceId),
    );

  beforeAll(async () => {
    cluster = await KubeTestCluster.start({ binaries });
    await cluster.createNamespace(NAMESPACE);
    await cluster.startKubelet({
      intervalMs: 150,
      podBehaviour: (pod: V1Pod) => {
        const age =
          Date.now() - new Date(pod.metadata?.creationTimestamp ?? 0).getTime();
        if (age < STARTUP_MS) return { state: 'ignore' };
        if (crashing.has(pod.metadata?.labels?.[PLUGIN_LABEL] ?? '')) {
          return {
            state: 'waiting',
            reason: 'CrashLoopBackOff',
            message: 'back-off 10s restarting failed container',
            restartCount: 2,
          };
        }
        return { state: 'ready' };
      },
    });
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('reports a pod deleted from outside and a crash loop once each as unexpected, a stop as expected only, and nothing after shutdown', async () => {
    const watched = runtime();
    const exits: RuntimeInstanceExit[] = [];
    const unsubscribe = watched.onInstanceExit(exit => exits.push(exit));
    for (const plugin of ['gone', 'crash', 'calm', 'sentinel', 'late']) {
      await start(watched, plugin);
    }

    const gonePod = (await podOf('gone-1')).metadata!.name!;
    await deleteFromOutside('gone-1');
    await expect(exitOf(exits, 'gone-1')).resolves.toEqual({
      pluginId: 'gone',
      instanceId: 'gone-1',
      exitCode: null,
      signal: null,
      expected: false,
      output: `pod ${gonePod} was deleted`,
    });

    crashing.add('crash');
    await expect(exitOf(exits, 'crash-1')).resolves.toEqual({
      pluginId: 'crash',
      instanceId: 'crash-1',
      exitCode: null,
      signal: null,
      expected: false,
      output: expect.stringMatching(
        /^pod pl-crash-1-0-0-stable-\S+ container plugin: CrashLoopBackOff \(back-off 10s restarting failed container\), 2 restarts$/,
      ),
    });

    await watched.stopInstance({
      pluginId: 'calm',
      instanceId: 'calm-1',
      gracePeriodMs: 0,
    });
    // The sentinel's deletion comes after every event above on the same
    // watch: once it is reported, a second report of any of them would
    // have come too.
    await deleteFromOutside('sentinel-1');
    await exitOf(exits, 'sentinel-1');
    expect(exits.map(e => [e.instanceId, e.expected])).toEqual([
      ['gone-1', false],
      ['crash-1', false],
      ['calm-1', true],
      ['sentinel-1', false],
    ]);

    // Another backend's runtime knows 'late-1' too and keeps watching.
    const other = runtime();
    const otherExits: RuntimeInstanceExit[] = [];
    const unsubscribeOther = other.onInstanceExit(exit =>
      otherExits.push(exit),
    );
    await expect(
      other.adoptInstance({
        pluginId: 'late',
        version: '1.0.0',
        instanceId: 'late-1',
        host: '',
        port: 7007,
      }),
    ).resolves.toBe(true);
    await watched.shutdown({ gracePeriodMs: 0, leaveRunning: true });
    const before = exits.length;
    await deleteFromOutside('late-1');
    await expect(exitOf(otherExits, 'late-1')).resolves.toMatchObject({
      expected: false,
      output: expect.stringMatching(
        /^pod pl-late-1-0-0-stable-\S+ was deleted$/,
      ),
    });
    expect(exits).toHaveLength(before);

    unsubscribe();
    unsubscribeOther();
    await other.shutdown({ gracePeriodMs: 0, leaveRunning: true });
  }, 180_000);
});
