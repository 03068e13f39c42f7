/**
 * The kubernetes runtime of Plugin Lifecycle Orchestration (issue #17).
 * Being built: so far cluster access from app-config and the check of the
 * rights the runtime needs. Tested against a real control plane
 * (packages/kube-test-cluster, docs/kubernetes-testing.md).
 *
 * @packageDocumentation
 */
export {
  readKubernetesRuntimeConfig,
  loadKubeConfig,
  namespaceForPlugin,
  type KubernetesRuntimeConfig,
} from './config';
export {
  requiredRights,
  missingRights,
  assertRights,
  describeRights,
  type KubernetesRight,
} from './KubernetesAccess';
