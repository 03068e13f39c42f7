/**
 * The kubernetes runtime of Plugin Lifecycle Orchestration (issue #17):
 * plugin instances as pods of Deployments (one per plugin, version and
 * track) with a Service, registered through
 * `pluginLifecycleRuntimesExtensionPoint`; its limits are in the README. Tested
 * against a real control plane (packages/kube-test-cluster,
 * docs/kubernetes-testing.md).
 *
 * @packageDocumentation
 */
export { pluginLifecycleModuleKubernetesRuntime as default } from './module';
export { pluginLifecycleModuleKubernetesRuntime } from './module';
export {
  KubernetesRuntime,
  type KubernetesRuntimeOptions,
  type KubernetesInstance,
} from './KubernetesRuntime';
export { podFailure } from './pods';
export {
  MANAGED_BY_LABEL,
  MANAGED_BY,
  PLUGIN_LABEL,
  VERSION_LABEL,
  TRACK_LABEL,
  WORKLOAD_LABEL,
  KUBERNETES_POD_PROBE,
  INSTANCE_LABEL,
  SERVING_LABEL,
  KUBERNETES_ID_LABEL,
  type InstanceSetKey,
} from './objects';
export {
  kubernetesStatus,
  KubernetesWorkloadError,
  type KubernetesStatus,
} from './errors';
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
