import { Config } from '@backstage/config';
import { KubeConfig } from '@kubernetes/client-node';

/** `pluginLifecycle.runtime.kubernetes`, with defaults applied. @public */
export interface KubernetesRuntimeConfig {
  access: 'kubeconfig' | 'inCluster';
  kubeconfig?: string;
  context?: string;
  namespaces: 'shared' | 'per-plugin';
  namespace: string;
  namespacePrefix: string;
}

// A DNS-1123 label: what Kubernetes accepts as a namespace name.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Reads `pluginLifecycle.runtime.kubernetes` (see config.d.ts); throws with
 * the key's name when a value is not usable.
 *
 * @public
 */
export function readKubernetesRuntimeConfig(
  config: Config,
): KubernetesRuntimeConfig {
  const c = config.getOptionalConfig('pluginLifecycle.runtime.kubernetes');
  const key = 'pluginLifecycle.runtime.kubernetes';
  const access = c?.getOptionalString('access') ?? 'kubeconfig';
  if (access !== 'kubeconfig' && access !== 'inCluster') {
    throw new Error(
      `${key}.access must be kubeconfig or inCluster, not ${access}`,
    );
  }
  const namespaces = c?.getOptionalString('namespaces') ?? 'shared';
  if (namespaces !== 'shared' && namespaces !== 'per-plugin') {
    throw new Error(
      `${key}.namespaces must be shared or per-plugin, not ${namespaces}`,
    );
  }
  const namespace = c?.getOptionalString('namespace') ?? 'plugin-lifecycle';
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) {
    throw new Error(
      `${key}.namespace ${JSON.stringify(
        namespace,
      )} is not a valid namespace name`,
    );
  }
  const namespacePrefix =
    c?.getOptionalString('namespacePrefix') ?? 'plugin-lifecycle-';
  if (
    !/^[a-z0-9][-a-z0-9]*$/.test(namespacePrefix) ||
    namespacePrefix.length > 40
  ) {
    throw new Error(
      `${key}.namespacePrefix ${JSON.stringify(
        namespacePrefix,
      )} cannot start a namespace name`,
    );
  }
  return {
    access,
    kubeconfig: c?.getOptionalString('kubeconfig'),
    context: c?.getOptionalString('context'),
    namespaces,
    namespace,
    namespacePrefix,
  };
}

/**
 * The client configuration the runtime uses: the pod's service account
 * (`inCluster`) or a kubeconfig file (the configured path, else KUBECONFIG
 * or ~/.kube/config) with the configured context.
 *
 * @public
 */
export function loadKubeConfig(config: KubernetesRuntimeConfig): KubeConfig {
  const kc = new KubeConfig();
  if (config.access === 'inCluster') {
    kc.loadFromCluster();
    return kc;
  }
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  if (config.context) {
    if (!kc.getContextObject(config.context)) {
      throw new Error(
        `pluginLifecycle.runtime.kubernetes.context ${
          config.context
        } is not in the kubeconfig (it has: ${kc.contexts
          .map(c => c.name)
          .join(', ')})`,
      );
    }
    kc.setCurrentContext(config.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new Error('the kubeconfig names no cluster for its current context');
  }
  return kc;
}

/** The namespace a plugin's objects live in. @public */
export function namespaceForPlugin(
  config: KubernetesRuntimeConfig,
  pluginId: string,
): string {
  if (config.namespaces === 'shared') return config.namespace;
  const name = `${config.namespacePrefix}${pluginId
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')}`;
  if (name.length > 63 || !DNS_LABEL.test(name)) {
    throw new Error(
      `plugin ${pluginId} gives no valid namespace name (${name})`,
    );
  }
  return name;
}
