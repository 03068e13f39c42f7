/*
 * A local Kubernetes 1.20 control plane with the kubelet stand-in, for
 * trying the kubernetes runtime by hand (docs/kubernetes-testing.md):
 *
 *   bash scripts/toolchain.sh yarn --cwd packages/kube-test-cluster dev
 *
 * Prints the admin kubeconfig's path and runs until SIGINT/SIGTERM.
 * KUBE_DEV_NAMESPACE (default `plugins`) is created. Pods of plugins named
 * in KUBE_DEV_CRASH (comma separated plugin ids) crash-loop; pods of
 * KUBE_DEV_PULL fail to pull their image; every other pod becomes ready
 * after KUBE_DEV_START_MS (default 1500). No container runs.
 */
import { KubeTestCluster, type PodBehaviour } from '../src';

const list = (name: string) =>
  (process.env[name] ?? '').split(',').filter(Boolean);

async function main() {
  const crash = list('KUBE_DEV_CRASH');
  const pull = list('KUBE_DEV_PULL');
  const startMs = Number(process.env.KUBE_DEV_START_MS ?? 1500);
  const namespace = process.env.KUBE_DEV_NAMESPACE ?? 'plugins';
  const cluster = await KubeTestCluster.start({});
  await cluster.createNamespace(namespace);
  await cluster.startKubelet({
    podBehaviour: (pod): PodBehaviour => {
      const created = new Date(pod.metadata?.creationTimestamp ?? 0);
      if (Date.now() - created.getTime() < startMs) return { state: 'ignore' };
      const plugin =
        pod.metadata?.labels?.['plugin-lifecycle.backstage.io/plugin'] ?? '';
      if (crash.includes(plugin)) {
        return {
          state: 'waiting',
          reason: 'CrashLoopBackOff',
          message: 'back-off 40s restarting failed container',
          restartCount: 3,
        };
      }
      if (pull.includes(plugin)) {
        return {
          state: 'waiting',
          reason: 'ImagePullBackOff',
          message: `Back-off pulling image "${pod.spec?.containers[0]?.image}"`,
          phase: 'Pending',
        };
      }
      return { state: 'ready' };
    },
  });
  // eslint-disable-next-line no-console
  console.log(
    `kubeconfig: ${cluster.kubeconfigPath()}\nnamespace: ${namespace}\nready (Ctrl-C stops it)`,
  );
  const stop = async () => {
    await cluster.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch(error => {
  // eslint-disable-next-line no-console
  console.error(error);
  process.exit(1);
});
