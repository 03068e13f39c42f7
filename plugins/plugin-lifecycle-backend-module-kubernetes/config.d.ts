export interface Config {
  pluginLifecycle?: {
    runtime?: {
      /**
       * The kubernetes runtime (plugin-lifecycle-backend-module-kubernetes):
       * where the cluster is and which namespaces it uses.
       */
      kubernetes?: {
        /**
         * How to reach the cluster: `kubeconfig` (a kubeconfig file, the
         * `kubeconfig` path below or else KUBECONFIG / ~/.kube/config) or
         * `inCluster` (the pod's service account). Default `kubeconfig`.
         */
        access?: 'kubeconfig' | 'inCluster';
        /** Path of the kubeconfig file (access `kubeconfig`). */
        kubeconfig?: string;
        /** The kubeconfig context to use. Default its current context. */
        context?: string;
        /**
         * `shared`: every plugin in `namespace`; `per-plugin`: each plugin
         * in a namespace of its own, `<namespacePrefix><pluginId>`, created
         * on demand (the runtime then needs to create namespaces). Default
         * `shared`.
         */
        namespaces?: 'shared' | 'per-plugin';
        /** The shared namespace. Default `plugin-lifecycle`. */
        namespace?: string;
        /** Prefix of per-plugin namespaces. Default `plugin-lifecycle-`. */
        namespacePrefix?: string;
      };
    };
  };
}
