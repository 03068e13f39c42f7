/**
 * A real Kubernetes control plane for integration tests: etcd,
 * kube-apiserver, kube-controller-manager and kube-scheduler 1.20.2 (built by
 * scripts/kube/build.sh) on loopback, and a kubelet stand-in.
 *
 * @packageDocumentation
 */
export {
  KubeTestCluster,
  KUBE_ADMIN_USER,
  KUBE_RESTRICTED_USER,
  type KubeTestClusterOptions,
  type KubeTestUser,
} from './KubeTestCluster';
export {
  KubeletStandIn,
  type KubeletStandInOptions,
  type PodBehaviour,
} from './KubeletStandIn';
export {
  KUBE_VERSION,
  kubeCacheDir,
  locateKubeBinaries,
  type KubeBinaries,
  type KubeBinariesLookup,
} from './binaries';
export { isKubeError, kubeErrorStatus, type KubeErrorStatus } from './errors';
export { waitFor } from './waitFor';
export { describeWithKube } from './describeWithKube';
