import { ConfigReader } from '@backstage/config';
import {
  KUBE_RESTRICTED_USER,
  KubeTestCluster,
  describeWithKube,
  waitFor,
} from '@internal/kube-test-cluster';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import type { Artifact } from '@internal/plugin-lifecycle-common';
import type { RuntimeInstanceExit } from '@internal/plugin-lifecycle-node';
import { loadKubeConfig, readKubernetesRuntimeConfig } from './config';
import { KubernetesRuntime } from './KubernetesRuntime';
import { INSTANCE_LABEL, PLUGIN_LABEL } from './objects';

// A real kube-apiserver, controller manager and scheduler 1.20 with a kubelet
// stand-in (docs/kubernetes-testing.md). No container runs: the stand-in
// reports pods Ready (or crash-looping, or failing to pull) as told, pod IPs
// are unroutable, so these tests check objects and statuses, never traffic.
const STARTUP_MS = 1_500;

const image: Artifact = {
  type: 'image',
  image: 'registry.example.com/hello:1.0.0',
  command: ['node'],
  args: ['server.js'],
  port: 7007,
};

const env = (pluginId: string, instanceId: string) => ({
  PLUGIN_ID: pluginId,
  PLUGIN_VERSION: '1.0.0',
  PLUGIN_INSTANCE_ID: instanceId,
  PLUGIN_CONFIG: '{"greeting":"hello"}',
  PLUGIN_CONFIG_GREETING: 'hello',
});

describeWithKube('KubernetesRuntime against a real control plane', binaries => {
  let cluster: KubeTestCluster;
  let flaky: 'ready' | 'unready' | 'crashing' = 'ready';
  let apps: AppsV1Api;
  let core: CoreV1Api;

  const runtimeFor = (namespace: string, user?: string) => {
    const config = readKubernetesRuntimeConfig(
      new ConfigReader({
        pluginLifecycle: {
          runtime: {
            kubernetes: {
              kubeconfig: cluster.kubeconfigPath(user),
              namespace,
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
      // The pod watch reports exits; the re-read is far beyond the tests.
      watchIntervalMs: 10 * 60_000,
    });
  };

  const podsOf = async (namespace: string, pluginId: string) =>
    (
      await core.listNamespacedPod({
        namespace,
        labelSelector: `${PLUGIN_LABEL}=${pluginId}`,
      })
    ).items.filter(p => !p.metadata?.deletionTimestamp);

  beforeAll(async () => {
    cluster = await KubeTestCluster.start({ binaries });
    await cluster.createNamespace('plugins');
    await cluster.createNamespace('quota');
    await cluster.startKubelet({
      intervalMs: 150,
      podBehaviour: (pod: V1Pod) => {
        const plugin = pod.metadata?.labels?.[PLUGIN_LABEL];
        // A container takes a moment to start (a real kubelet pulls the
        // image, starts it, runs its probes): a new pod stays Pending.
        const age =
          Date.now() - new Date(pod.metadata?.creationTimestamp ?? 0).getTime();
        if (age < STARTUP_MS) return { state: 'ignore' };
        if (plugin === 'crashy') {
          return {
            state: 'waiting',
            reason: 'CrashLoopBackOff',
            message: 'back-off 10s restarting failed container',
            restartCount: 3,
          };
        }
        if (plugin === 'flaky' && flaky !== 'ready') {
          return flaky === 'crashing'
            ? {
                state: 'waiting',
                reason: 'CrashLoopBackOff',
                restartCount: 1,
              }
            : { state: 'running' };
        }
        if (plugin === 'unpullable') {
          return {
            state: 'waiting',
            reason: 'ImagePullBackOff',
            message: 'Back-off pulling image "registry.example.com/nope:1"',
            phase: 'Pending',
          };
        }
        return { state: 'ready' };
      },
    });
    apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('starts instances as ready pods of a labelled Deployment with our probes, resources and environment, and a Service', async () => {
    const runtime = runtimeFor('plugins');
    await expect(
      runtime.install({
        pluginId: 'hello',
        version: '1.0.0',
        artifact: image,
      }),
    ).resolves.toEqual({ location: image.image });

    const first = await runtime.startInstance({
      pluginId: 'hello',
      version: '1.0.0',
      instanceId: 'hello-aaaa1111',
      artifact: image,
      env: env('hello', 'hello-aaaa1111'),
      track: 'canary',
      resources: { cpu: '100m', memory: '64Mi' },
      probes: [
        {
          name: 'ready',
          type: 'readiness',
          method: 'http',
          http: { path: '/ready', headers: { 'x-probe': '1' } },
          periodSeconds: 2.5,
          failureThreshold: 3,
        },
        { name: 'alive', type: 'liveness', method: 'tcp' },
        {
          name: 'started',
          type: 'startup',
          method: 'http',
          http: { path: '/started', port: 9000 },
          initialDelaySeconds: 1,
        },
        // Not in 1.20's container probes: left to the health monitor.
        {
          name: 'grpc',
          type: 'readiness',
          method: 'grpc',
          grpc: { service: 'x' },
        },
      ],
    });
    expect(first).toEqual({
      instanceId: 'hello-aaaa1111',
      host: expect.stringMatching(/^198\.19\./),
      port: 7007,
      protocol: 'http',
    });

    const name = 'pl-hello-1-0-0-canary';
    const labels = {
      'app.kubernetes.io/managed-by': 'plugin-lifecycle',
      'plugin-lifecycle.backstage.io/plugin': 'hello',
      'plugin-lifecycle.backstage.io/version': '1.0.0',
      'plugin-lifecycle.backstage.io/track': 'canary',
      'plugin-lifecycle.backstage.io/workload': 'pl-hello-1-0-0-canary',
      'backstage.io/kubernetes-id': 'hello',
    };
    const deployment = await apps.readNamespacedDeployment({
      name,
      namespace: 'plugins',
    });
    expect(deployment.metadata?.labels).toEqual(labels);
    expect(deployment.spec?.replicas).toBe(1);
    const template = deployment.spec!.template;
    expect(template.metadata?.labels).toEqual({
      ...labels,
      'plugin-lifecycle.backstage.io/serving': 'true',
    });
    const container = template.spec!.containers[0];
    expect(container).toMatchObject({
      image: 'registry.example.com/hello:1.0.0',
      command: ['node'],
      args: ['server.js'],
      ports: [{ containerPort: 7007, name: 'http', protocol: 'TCP' }],
      envFrom: [{ secretRef: { name: `${name}-env` } }],
      resources: {
        requests: { cpu: '100m', memory: '64Mi' },
        limits: { cpu: '100m', memory: '64Mi' },
      },
      readinessProbe: {
        httpGet: {
          path: '/ready',
          port: 7007,
          httpHeaders: [{ name: 'x-probe', value: '1' }],
        },
        periodSeconds: 3,
        failureThreshold: 3,
      },
      livenessProbe: { tcpSocket: { port: 7007 } },
      startupProbe: {
        httpGet: { path: '/started', port: 9000 },
        initialDelaySeconds: 1,
      },
    });
    expect(container.env).toEqual([
      {
        name: 'PLUGIN_INSTANCE_ID',
        valueFrom: {
          fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' },
        },
      },
      { name: 'PORT', value: '7007' },
      { name: 'HOST', value: '0.0.0.0' },
    ]);

    // The environment (configuration, secrets included) is a Secret, not in the Deployment.
    const secret = await core.readNamespacedSecret({
      name: `${name}-env`,
      namespace: 'plugins',
    });
    expect(secret.metadata?.labels).toEqual(labels);
    const data = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [
        k,
        Buffer.from(v, 'base64').toString(),
      ]),
    );
    expect(data).toEqual({
      PLUGIN_ID: 'hello',
      PLUGIN_VERSION: '1.0.0',
      PLUGIN_CONFIG: '{"greeting":"hello"}',
      PLUGIN_CONFIG_GREETING: 'hello',
    });

    const service = await core.readNamespacedService({
      name,
      namespace: 'plugins',
    });
    expect(service.metadata?.labels).toEqual(labels);
    expect(service.spec?.selector).toEqual({
      'app.kubernetes.io/managed-by': 'plugin-lifecycle',
      'plugin-lifecycle.backstage.io/plugin': 'hello',
      'plugin-lifecycle.backstage.io/workload': 'pl-hello-1-0-0-canary',
      'plugin-lifecycle.backstage.io/serving': 'true',
    });
    expect(service.spec?.ports?.[0]).toMatchObject({
      port: 7007,
      targetPort: 7007,
    });
    // The endpoints controller puts the ready pod behind the Service.
    await waitFor('the Service endpoints', async () => {
      const endpoints = await core.readNamespacedEndpoints({
        name,
        namespace: 'plugins',
      });
      const ips = (endpoints.subsets ?? []).flatMap(s =>
        (s.addresses ?? []).map(a => a.ip),
      );
      return ips.includes(first.host) || undefined;
    });

    const second = await runtime.startInstance({
      pluginId: 'hello',
      version: '1.0.0',
      instanceId: 'hello-bbbb2222',
      artifact: image,
      env: env('hello', 'hello-bbbb2222'),
      track: 'canary',
    });
    expect(second.host).not.toBe(first.host);
    expect(
      (await apps.readNamespacedDeployment({ name, namespace: 'plugins' })).spec
        ?.replicas,
    ).toBe(2);
    await expect(runtime.isAlive('hello-aaaa1111')).resolves.toBe(true);
    const instances = await runtime.listInstances('hello');
    expect(
      instances
        .map(i => ({
          id: i.instanceId,
          host: i.host,
          ready: i.ready,
          track: i.track,
          version: i.version,
        }))
        .sort((a, b) => a.id.localeCompare(b.id)),
    ).toEqual([
      {
        id: 'hello-aaaa1111',
        host: first.host,
        ready: true,
        track: 'canary',
        version: '1.0.0',
      },
      {
        id: 'hello-bbbb2222',
        host: second.host,
        ready: true,
        track: 'canary',
        version: '1.0.0',
      },
    ]);
  }, 120_000);

  it("moves instances to another track by relabelling their pods, keeping them in their ReplicaSet, and reports the pods' readiness", async () => {
    const runtime = runtimeFor('plugins');
    const name = 'pl-hello-1-0-0-canary';
    const before = (await podsOf('plugins', 'hello'))
      .map(p => p.metadata!.uid)
      .sort();
    await runtime.setInstanceTrack({
      pluginId: 'hello',
      instanceIds: ['hello-aaaa1111'],
      track: 'stable',
    });
    const tracks = async () =>
      Object.fromEntries(
        (await podsOf('plugins', 'hello')).map(p => [
          p.metadata!.labels![INSTANCE_LABEL],
          p.metadata!.labels!['plugin-lifecycle.backstage.io/track'],
        ]),
      );
    expect(await tracks()).toEqual({
      'hello-aaaa1111': 'stable',
      'hello-bbbb2222': 'canary',
    });
    const trackOf = async () =>
      (await apps.readNamespacedDeployment({ name, namespace: 'plugins' }))
        .metadata?.labels?.['plugin-lifecycle.backstage.io/track'];
    // One instance of the set is still a canary: the set keeps its track.
    expect(await trackOf()).toBe('canary');
    await runtime.setInstanceTrack({
      pluginId: 'hello',
      instanceIds: ['hello-bbbb2222'],
      track: 'stable',
    });
    expect(await tracks()).toEqual({
      'hello-aaaa1111': 'stable',
      'hello-bbbb2222': 'stable',
    });
    expect(await trackOf()).toBe('stable');
    expect(
      (await core.readNamespacedService({ name, namespace: 'plugins' }))
        .metadata?.labels?.['plugin-lifecycle.backstage.io/track'],
    ).toBe('stable');
    // Same pods, still the ReplicaSet's: no replacement was made.
    await new Promise(r => setTimeout(r, 1_000));
    const after = await podsOf('plugins', 'hello');
    expect(after.map(p => p.metadata!.uid).sort()).toEqual(before);
    expect(after.every(p => p.metadata?.ownerReferences?.length)).toBe(true);
    expect((await runtime.listInstances('hello')).map(i => i.track)).toEqual([
      'stable',
      'stable',
    ]);
    await expect(
      runtime.podReadiness('hello', 'hello-aaaa1111'),
    ).resolves.toEqual({
      ok: true,
      message: expect.stringMatching(
        /^pod plugins\/pl-hello-1-0-0-canary-.* is ready$/,
      ),
    });
    await expect(
      runtime.podReadiness('hello', 'hello-nope0000'),
    ).resolves.toEqual({
      ok: false,
      message: 'no pod of hello-nope0000 in namespace plugins',
    });
    // Back, for the tests that follow.
    await runtime.setInstanceTrack({
      pluginId: 'hello',
      instanceIds: ['hello-aaaa1111', 'hello-bbbb2222'],
      track: 'canary',
    });
    expect(await trackOf()).toBe('canary');
  }, 60_000);

  it('stops exactly the instance asked for and scales the Deployment down, to 0 with the last one', async () => {
    const runtime = runtimeFor('plugins');
    const name = 'pl-hello-1-0-0-canary';
    const exits: string[] = [];
    const unsubscribe = runtime.onInstanceExit(exit =>
      exits.push(exit.instanceId),
    );
    const secondPod = (await podsOf('plugins', 'hello')).find(
      p => p.metadata?.labels?.[INSTANCE_LABEL] === 'hello-bbbb2222',
    )!;

    await runtime.stopInstance({
      pluginId: 'hello',
      instanceId: 'hello-aaaa1111',
      gracePeriodMs: 0,
    });
    expect(exits).toEqual(['hello-aaaa1111']);
    expect(
      (await apps.readNamespacedDeployment({ name, namespace: 'plugins' })).spec
        ?.replicas,
    ).toBe(1);
    // The ReplicaSet let go of the stopped pod; the other instance's pod is untouched.
    const settled = await waitFor('one pod left', async () => {
      const pods = await podsOf('plugins', 'hello');
      return pods.length === 1 ? pods : undefined;
    });
    expect(settled[0].metadata?.name).toBe(secondPod.metadata?.name);
    await expect(runtime.isAlive('hello-aaaa1111')).resolves.toBe(false);
    await expect(runtime.isAlive('hello-bbbb2222')).resolves.toBe(true);

    await runtime.stopInstance({
      pluginId: 'hello',
      instanceId: 'hello-bbbb2222',
      gracePeriodMs: 0,
    });
    const deployment = await apps.readNamespacedDeployment({
      name,
      namespace: 'plugins',
    });
    expect(deployment.spec?.replicas).toBe(0);
    await waitFor('no pod left', async () =>
      (await podsOf('plugins', 'hello')).length === 0 ? true : undefined,
    );
    await expect(runtime.listInstances('hello')).resolves.toEqual([]);
    // Stopping what is gone is no error.
    await expect(
      runtime.stopInstance({
        pluginId: 'hello',
        instanceId: 'hello-bbbb2222',
        gracePeriodMs: 0,
      }),
    ).resolves.toEqual({ exitCode: null, signal: null, forced: false });
    unsubscribe();
  }, 120_000);

  it('an instance is alive while its pod runs, ready or not, and dead when it crash-loops', async () => {
    const runtime = runtimeFor('plugins');
    const exits: RuntimeInstanceExit[] = [];
    const unsubscribe = runtime.onInstanceExit(exit => exits.push(exit));
    await runtime.startInstance({
      pluginId: 'flaky',
      version: '1.0.0',
      instanceId: 'flaky-1',
      artifact: image,
      env: env('flaky', 'flaky-1'),
    });
    await expect(runtime.isAlive('flaky-1')).resolves.toBe(true);
    flaky = 'unready';
    await waitFor('the pod unready', async () =>
      (await runtime.listInstances('flaky'))[0]?.ready === false
        ? true
        : undefined,
    );
    await expect(runtime.isAlive('flaky-1')).resolves.toBe(true);
    flaky = 'crashing';
    await waitFor('the instance dead', async () =>
      (await runtime.isAlive('flaky-1')) ? undefined : true,
    );
    // Reported once, as a crash, with the pod's state.
    await waitFor('its exit', () => exits.length > 0 || undefined);
    expect(exits).toEqual([
      {
        pluginId: 'flaky',
        instanceId: 'flaky-1',
        exitCode: null,
        signal: null,
        expected: false,
        output: expect.stringMatching(
          /^pod pl-flaky-1-0-0-stable-\S+ container plugin: CrashLoopBackOff, 1 restarts$/,
        ),
      },
    ]);
    unsubscribe();
    // Another backend cannot adopt it either.
    await expect(
      runtime.adoptInstance({
        pluginId: 'flaky',
        version: '1.0.0',
        instanceId: 'flaky-1',
        host: '',
        port: 7007,
      }),
    ).resolves.toBe(false);
    await runtime.uninstall({ pluginId: 'flaky', version: '1.0.0' });
  }, 120_000);

  it('uninstall removes everything it made and nothing it did not', async () => {
    const runtime = runtimeFor('plugins');
    await runtime.startInstance({
      pluginId: 'hello',
      version: '1.0.0',
      instanceId: 'hello-cccc3333',
      artifact: image,
      env: env('hello', 'hello-cccc3333'),
    });
    // Someone else's Deployment, even with our plugin's labels but not our managed-by.
    await apps.createNamespacedDeployment({
      namespace: 'plugins',
      body: {
        metadata: {
          name: 'foreign',
          labels: {
            'plugin-lifecycle.backstage.io/plugin': 'hello',
            'plugin-lifecycle.backstage.io/version': '1.0.0',
          },
        },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'foreign' } },
          template: {
            metadata: { labels: { app: 'foreign' } },
            spec: { containers: [{ name: 'c', image: 'foreign:1' }] },
          },
        },
      },
    });
    // A foreign object with our name is refused, not taken over.
    await core.createNamespacedService({
      namespace: 'plugins',
      body: {
        metadata: { name: 'pl-hello-2-0-0-stable' },
        spec: { ports: [{ port: 80 }] },
      },
    });
    await expect(
      runtime.startInstance({
        pluginId: 'hello',
        version: '2.0.0',
        instanceId: 'hello-dddd4444',
        artifact: image,
        env: env('hello', 'hello-dddd4444'),
      }),
    ).rejects.toThrow(
      'kubernetes: Service plugins/pl-hello-2-0-0-stable exists and is not managed by plugin-lifecycle',
    );

    await runtime.uninstall({ pluginId: 'hello', version: '1.0.0' });
    // The refused start had written 2.0.0's Secret (ours) before it met the Service.
    await runtime.uninstall({ pluginId: 'hello', version: '2.0.0' });
    const ours = 'app.kubernetes.io/managed-by=plugin-lifecycle';
    await waitFor('our objects and pods gone', async () => {
      const [d, s, sec, p] = await Promise.all([
        apps.listNamespacedDeployment({
          namespace: 'plugins',
          labelSelector: ours,
        }),
        core.listNamespacedService({
          namespace: 'plugins',
          labelSelector: ours,
        }),
        core.listNamespacedSecret({
          namespace: 'plugins',
          labelSelector: ours,
        }),
        core.listNamespacedPod({ namespace: 'plugins', labelSelector: ours }),
      ]);
      return d.items.length +
        s.items.length +
        sec.items.length +
        p.items.length ===
        0
        ? true
        : undefined;
    });
    await expect(
      apps.readNamespacedDeployment({
        name: 'foreign',
        namespace: 'plugins',
      }),
    ).resolves.toMatchObject({ metadata: { name: 'foreign' } });
    await expect(
      core.readNamespacedService({
        name: 'pl-hello-2-0-0-stable',
        namespace: 'plugins',
      }),
    ).resolves.toMatchObject({ metadata: { name: 'pl-hello-2-0-0-stable' } });
  }, 120_000);

  it('a crash loop or an image pull back-off fails the start with the pod status, and scales back', async () => {
    const runtime = runtimeFor('plugins');
    await expect(
      runtime.startInstance({
        pluginId: 'crashy',
        version: '1.0.0',
        instanceId: 'crashy-1',
        artifact: image,
        env: env('crashy', 'crashy-1'),
      }),
    ).rejects.toThrow(
      /^kubernetes: Deployment plugins\/pl-crashy-1-0-0-stable cannot start crashy-1: pod pl-crashy-1-0-0-stable-\S+ container plugin: CrashLoopBackOff \(back-off 10s restarting failed container\), 3 restarts$/,
    );
    expect(
      (
        await apps.readNamespacedDeployment({
          name: 'pl-crashy-1-0-0-stable',
          namespace: 'plugins',
        })
      ).spec?.replicas,
    ).toBe(0);
    await expect(
      runtime.startInstance({
        pluginId: 'unpullable',
        version: '1.0.0',
        instanceId: 'unpullable-1',
        artifact: image,
        env: env('unpullable', 'unpullable-1'),
      }),
    ).rejects.toThrow(
      /container plugin: ImagePullBackOff \(Back-off pulling image "registry.example.com\/nope:1"\)$/,
    );
  }, 120_000);

  it('a quota the pods exceed fails the start with the cluster message', async () => {
    await core.createNamespacedResourceQuota({
      namespace: 'quota',
      body: { metadata: { name: 'one-pod' }, spec: { hard: { pods: '1' } } },
    });
    // The quota controller must have counted before admission enforces it.
    await waitFor('the quota status', async () => {
      const quota = await core.readNamespacedResourceQuota({
        name: 'one-pod',
        namespace: 'quota',
      });
      return quota.status?.hard?.pods ? true : undefined;
    });
    const runtime = runtimeFor('quota');
    await runtime.startInstance({
      pluginId: 'big',
      version: '1.0.0',
      instanceId: 'big-1',
      artifact: image,
      env: env('big', 'big-1'),
    });
    await expect(
      runtime.startInstance({
        pluginId: 'big',
        version: '1.0.0',
        instanceId: 'big-2',
        artifact: image,
        env: env('big', 'big-2'),
      }),
    ).rejects.toThrow(
      /^kubernetes: Deployment quota\/pl-big-1-0-0-stable cannot create pods for big-2: .*exceeded quota: one-pod, requested: pods=1, used: pods=1, limited: pods=1/,
    );
  }, 120_000);

  it('an identity without rights is refused with every missing right, before anything is created', async () => {
    const runtime = runtimeFor('plugins', KUBE_RESTRICTED_USER);
    const message =
      "the kubernetes runtime's identity (restricted) may not get, list, watch, create, patch, update, delete deployments.apps in namespace plugins";
    await expect(
      runtime.install({
        pluginId: 'nope',
        version: '1.0.0',
        artifact: image,
      }),
    ).rejects.toThrow(message);
    await expect(
      runtime.startInstance({
        pluginId: 'nope',
        version: '1.0.0',
        instanceId: 'nope-1',
        artifact: image,
        env: env('nope', 'nope-1'),
      }),
    ).rejects.toThrow(message);
    // The apiserver's own refusal, for calls past the check.
    await expect(runtime.listInstances('nope')).rejects.toThrow(
      'kubernetes: listing pods of nope failed: pods is forbidden: User "restricted" cannot list resource "pods" in API group "" in the namespace "plugins"',
    );
  }, 60_000);

  it('puts each plugin in a namespace of its own when configured, creating it', async () => {
    const config = readKubernetesRuntimeConfig(
      new ConfigReader({
        pluginLifecycle: {
          runtime: {
            kubernetes: {
              kubeconfig: cluster.kubeconfigPath(),
              namespaces: 'per-plugin',
              namespacePrefix: 'pl-',
            },
          },
        },
      }),
    );
    const runtime = KubernetesRuntime.create({
      config,
      kubeConfig: loadKubeConfig(config),
      startTimeoutMs: 60_000,
      pollIntervalMs: 200,
    });
    await runtime.install({
      pluginId: 'solo',
      version: '1.0.0',
      artifact: image,
    });
    const instance = await runtime.startInstance({
      pluginId: 'solo',
      version: '1.0.0',
      instanceId: 'solo-1',
      artifact: image,
      env: env('solo', 'solo-1'),
    });
    expect(instance.host).toMatch(/^198\.19\./);
    const namespace = await core.readNamespace({ name: 'pl-solo' });
    expect(namespace.metadata?.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'plugin-lifecycle',
    });
    await expect(runtime.isAlive('solo-1')).resolves.toBe(true);
    // Straight to a start: pods wait for the new namespace's service
    // account (a transient refusal), and the start waits with them.
    const fresh = await runtime.startInstance({
      pluginId: 'fresh',
      version: '1.0.0',
      instanceId: 'fresh-1',
      artifact: image,
      env: env('fresh', 'fresh-1'),
    });
    expect(fresh.host).toMatch(/^198\.19\./);
  }, 120_000);

  it('refuses an artifact that is not an image', async () => {
    const runtime = runtimeFor('plugins');
    await expect(
      runtime.install({
        pluginId: 'x',
        version: '1.0.0',
        artifact: { type: 'command', command: 'node', args: [] },
      }),
    ).rejects.toThrow(
      "The kubernetes runtime needs an artifact of type 'image', not 'command'",
    );
  });
});
