import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node';
import fs from 'node:fs';
import {
  KUBE_RESTRICTED_USER,
  KubeTestCluster,
  KubeletStandIn,
  kubeErrorStatus,
  locateKubeBinaries,
  waitFor,
} from '.';

/*
 * A real control plane (etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler 1.20.2) with a kubelet stand-in instead of a kubelet. What
 * this cannot cover: no container runs (no image pull, no command, no probe
 * is executed; readiness is what the stand-in says), and pod IPs are
 * unroutable, so no traffic reaches pods.
 */
const lookup = locateKubeBinaries();
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function deployment(name: string, replicas: number): V1Deployment {
  const labels = { 'app.kubernetes.io/name': name };
  return {
    metadata: { name, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: 'main',
              // Never pulled: there is no container runtime.
              image: 'registry.invalid/demo:1.0.0',
              ports: [{ containerPort: 8080, name: 'http' }],
              readinessProbe: {
                httpGet: { path: '/healthz', port: 'http' as any },
              },
              resources: { requests: { cpu: '10m', memory: '16Mi' } },
            },
          ],
        },
      },
    },
  };
}

async function expectRefused(
  call: Promise<unknown>,
): Promise<{ code: number; message: string }> {
  const error = await call.then(
    () => undefined,
    e => e,
  );
  const status = kubeErrorStatus(error);
  if (!status)
    throw new Error(`expected the apiserver to refuse, got ${error}`);
  return status;
}

if (!lookup.available) {
  // The reason is the test's title, and printed: CI shows why it skipped.
  // eslint-disable-next-line no-console
  console.warn(`[kube-test-cluster] skipped: ${lookup.reason}`);
  describe('KubeTestCluster', () => {
    // eslint-disable-next-line jest/no-disabled-tests, jest/expect-expect
    it.skip(`a real Kubernetes control plane (skipped: ${lookup.reason})`, () => {});
  });
} else {
  describe('KubeTestCluster (a real control plane, a kubelet stand-in)', () => {
    let cluster: KubeTestCluster;
    let kubelet: KubeletStandIn;
    let core: CoreV1Api;
    let apps: AppsV1Api;

    beforeAll(async () => {
      cluster = await KubeTestCluster.start({ binaries: lookup.binaries });
      kubelet = await cluster.startKubelet();
      core = cluster.kubeConfig().makeApiClient(CoreV1Api);
      apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    }, 240_000);

    afterAll(async () => {
      await cluster?.stop();
    }, 60_000);

    const available = (namespace: string, name: string, replicas: number) =>
      waitFor(`${name} to have ${replicas} available replicas`, async () => {
        const d = await apps.readNamespacedDeployment({ name, namespace });
        const s = d.status ?? {};
        return (s.availableReplicas ?? 0) === replicas &&
          (s.replicas ?? 0) === replicas &&
          s.observedGeneration === d.metadata?.generation
          ? d
          : undefined;
      });

    it('runs a Deployment and a Service: pods scheduled, marked ready, scaled to 0 and back', async () => {
      const ns = 'harness-apps';
      await cluster.createNamespace(ns);
      await apps.createNamespacedDeployment({
        namespace: ns,
        body: deployment('demo', 2),
      });
      await core.createNamespacedService({
        namespace: ns,
        body: {
          metadata: { name: 'demo' },
          spec: {
            selector: { 'app.kubernetes.io/name': 'demo' },
            ports: [{ name: 'http', port: 80, targetPort: 'http' as any }],
          },
        },
      });

      // The deployment controller made a ReplicaSet, the ReplicaSet controller its pods.
      await available(ns, 'demo', 2);
      const sets = await apps.listNamespacedReplicaSet({ namespace: ns });
      expect(sets.items).toHaveLength(1);
      expect(sets.items[0].metadata?.ownerReferences?.[0]).toMatchObject({
        kind: 'Deployment',
        name: 'demo',
      });

      // The scheduler bound them to the stand-in's node; the stand-in made them
      // Ready with unroutable (never loopback) IPs.
      const pods = await core.listNamespacedPod({ namespace: ns });
      expect(pods.items).toHaveLength(2);
      for (const pod of pods.items) {
        expect(pod.spec?.nodeName).toBe(kubelet.nodeName);
        expect(pod.status?.phase).toBe('Running');
        expect(
          pod.status?.conditions?.find(c => c.type === 'Ready')?.status,
        ).toBe('True');
        expect(pod.status?.podIP).toMatch(/^198\.1[89]\./);
      }

      // The endpoints controller put the ready pods behind the Service.
      const endpoints = await waitFor(
        'the Service to have 2 endpoints',
        async () => {
          const e = await core.readNamespacedEndpoints({
            name: 'demo',
            namespace: ns,
          });
          const addresses = e.subsets?.flatMap(s => s.addresses ?? []) ?? [];
          return addresses.length === 2 ? addresses : undefined;
        },
      );
      expect(endpoints.map(a => a.ip).sort()).toEqual(
        pods.items.map(p => p.status?.podIP).sort(),
      );

      // Scale to 0: the stand-in finishes the terminating pods.
      await apps.patchNamespacedDeploymentScale(
        { name: 'demo', namespace: ns, body: { spec: { replicas: 0 } } },
        mergePatch,
      );
      await waitFor('every pod to be gone', async () => {
        const left = await core.listNamespacedPod({ namespace: ns });
        return left.items.length === 0;
      });
      await available(ns, 'demo', 0);

      await apps.patchNamespacedDeploymentScale(
        { name: 'demo', namespace: ns, body: { spec: { replicas: 2 } } },
        mergePatch,
      );
      await available(ns, 'demo', 2);
    }, 180_000);

    it('reports pods that are not ready, and a crash loop in the pod status', async () => {
      const ns = 'harness-unready';
      await cluster.createNamespace(ns);
      const crashing = await cluster.startKubelet({
        nodeName: 'crashing-node',
        labels: { 'plugin-lifecycle.test/node': 'crashing' },
        // Only this test's pods (which tolerate it) may land here.
        taints: [
          { key: 'plugin-lifecycle.test/crashing', effect: 'NoSchedule' },
        ],
        podBehaviour: () => ({
          state: 'waiting',
          reason: 'CrashLoopBackOff',
          message: 'back-off 10s restarting failed container=main',
          restartCount: 3,
        }),
      });
      const body = deployment('crashing', 1);
      body.spec!.template.spec!.nodeSelector = {
        'plugin-lifecycle.test/node': 'crashing',
      };
      body.spec!.template.spec!.tolerations = [
        {
          key: 'plugin-lifecycle.test/crashing',
          operator: 'Exists',
          effect: 'NoSchedule',
        },
      ];
      await apps.createNamespacedDeployment({ namespace: ns, body });
      const pod = await waitFor('the pod to be crash looping', async () => {
        const list = await core.listNamespacedPod({ namespace: ns });
        const p = list.items[0];
        return p?.status?.containerStatuses?.[0]?.state?.waiting
          ? p
          : undefined;
      });
      expect(pod.spec?.nodeName).toBe(crashing.nodeName);
      expect(pod.status?.containerStatuses?.[0]).toMatchObject({
        ready: false,
        restartCount: 3,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
      });
      const d = await apps.readNamespacedDeployment({
        name: 'crashing',
        namespace: ns,
      });
      expect(d.status?.availableReplicas ?? 0).toBe(0);
      expect(d.status?.unavailableReplicas).toBe(1);
    }, 120_000);

    it('surfaces a ResourceQuota refusal with its message, directly and in the Deployment status', async () => {
      const ns = 'harness-quota';
      await cluster.createNamespace(ns);
      await core.createNamespacedResourceQuota({
        namespace: ns,
        body: {
          metadata: { name: 'small' },
          spec: { hard: { pods: '1', services: '1' } },
        },
      });
      // Admission refuses everything with "status unknown" until the quota controller has counted.
      await waitFor('the quota controller to count', async () => {
        const q = await core.readNamespacedResourceQuota({
          name: 'small',
          namespace: ns,
        });
        return q.status?.hard?.pods === '1' && q.status?.used?.services === '0';
      });
      const service = (name: string) => ({
        metadata: { name },
        spec: { ports: [{ port: 80 }] },
      });
      await core.createNamespacedService({
        namespace: ns,
        body: service('first'),
      });
      const refused = await expectRefused(
        core.createNamespacedService({
          namespace: ns,
          body: service('second'),
        }),
      );
      expect(refused.code).toBe(403);
      expect(refused.message).toContain('exceeded quota: small');
      expect(refused.message).toContain('limited: services=1');

      await apps.createNamespacedDeployment({
        namespace: ns,
        body: deployment('big', 2),
      });
      const failure = await waitFor(
        'the Deployment to report ReplicaFailure',
        async () => {
          const d = await apps.readNamespacedDeployment({
            name: 'big',
            namespace: ns,
          });
          return d.status?.conditions?.find(c => c.type === 'ReplicaFailure');
        },
      );
      expect(failure.status).toBe('True');
      expect(failure.reason).toBe('FailedCreate');
      expect(failure.message).toContain('exceeded quota: small');
      const d = await available(ns, 'big', 1).catch(async () =>
        apps.readNamespacedDeployment({ name: 'big', namespace: ns }),
      );
      expect(d.status?.availableReplicas).toBe(1);
    }, 120_000);

    it('surfaces RBAC refusals for a user and a service account without rights, and honours a grant', async () => {
      const ns = 'harness-rbac';
      await cluster.createNamespace(ns);

      const restricted = cluster
        .kubeConfig(KUBE_RESTRICTED_USER)
        .makeApiClient(CoreV1Api);
      const listing = await expectRefused(
        restricted.listNamespacedPod({ namespace: ns }),
      );
      expect(listing.code).toBe(403);
      expect(listing.message).toBe(
        `pods is forbidden: User "restricted" cannot list resource "pods" in API group "" in the namespace "${ns}"`,
      );

      await core.createNamespacedServiceAccount({
        namespace: ns,
        body: { metadata: { name: 'deployer' } },
      });
      const asDeployer = (
        await cluster.serviceAccountKubeConfig(ns, 'deployer')
      ).makeApiClient(AppsV1Api);
      const creating = await expectRefused(
        asDeployer.createNamespacedDeployment({
          namespace: ns,
          body: deployment('x', 1),
        }),
      );
      expect(creating.code).toBe(403);
      expect(creating.message).toContain(
        `User "system:serviceaccount:${ns}:deployer" cannot create resource "deployments" in API group "apps"`,
      );

      const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
      await rbac.createNamespacedRole({
        namespace: ns,
        body: {
          metadata: { name: 'deployer' },
          rules: [
            {
              apiGroups: ['apps'],
              resources: ['deployments'],
              verbs: ['create', 'get'],
            },
          ],
        },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name: 'deployer' },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'Role',
            name: 'deployer',
          },
          subjects: [
            { kind: 'ServiceAccount', name: 'deployer', namespace: ns },
          ],
        },
      });
      // The authorizer's cache follows the binding within moments.
      const created = await waitFor('the grant to take effect', () =>
        asDeployer.createNamespacedDeployment({
          namespace: ns,
          body: deployment('x', 1),
        }),
      );
      expect(created.metadata?.name).toBe('x');
    }, 120_000);

    it('deletes a namespace with running pods: the stand-in finishes them', async () => {
      await core.deleteNamespace({ name: 'harness-apps' });
      await waitFor(
        'namespace harness-apps to be gone',
        async () => {
          const e = await expectRefused(
            core.readNamespace({ name: 'harness-apps' }),
          );
          return e.code === 404;
        },
        { timeoutMs: 120_000 },
      );
      expect(kubelet.error).toBeUndefined();
    }, 150_000);

    it('stops every process and removes its directory', async () => {
      const pids = cluster.processIds();
      expect(pids).toHaveLength(4);
      await cluster.stop();
      for (const pid of pids) {
        expect(() => process.kill(pid, 0)).toThrow();
      }
      expect(fs.existsSync(cluster.dir)).toBe(false);
    }, 60_000);
  });
}
