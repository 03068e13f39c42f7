export interface Config {
  /** Configuration of the plugin-lifecycle backend. */
  pluginLifecycle?: {
    /** Where the process runtime installs plugin versions. Default ./data/plugin-lifecycle */
    dataDir?: string;
    /** Tenant of plugins installed without one. Default 'default'. */
    defaultTenant?: string;
    /** Runtime of plugins installed without one. Default 'process'. */
    defaultRuntime?: string;
    /** Environment of plugins installed without one. Default 'production'. */
    defaultEnvironment?: string;
    /**
     * Artifact types an install request may carry; configured plugins may use
     * any. Default ['npm', 'external']: a command or tarball path in a request
     * would run code from the backend's machine.
     */
    requestArtifactTypes?: Array<'npm' | 'tarball' | 'command' | 'external'>;
    orchestrator?: {
      /** Operations run at once by one backend. Default 10. */
      maxConcurrentOperations?: number;
      /** Milliseconds before an operation is aborted and compensated. Default 300000. */
      defaultTimeout?: number;
      /** Bring plugins back to their desired state after a backend restart. Default true. */
      enableAutoRecovery?: boolean;
    };
    runtime?: {
      process?: {
        /** Interface instances listen on. Default 127.0.0.1. */
        host?: string;
        /** Milliseconds for an instance to accept connections. Default 30000. */
        startTimeout?: number;
        /** Milliseconds for an instance to pass startup and readiness probes. Default 60000. */
        readyTimeout?: number;
        /** Milliseconds between SIGTERM and SIGKILL. Default 10000. */
        stopGracePeriod?: number;
      };
    };
    /** Plugins known to this backend, by id: where their versions come from. */
    plugins?: {
      [pluginId: string]: {
        /**
         * The artifact of every version; `${version}` in a tarball path is replaced.
         * @deepVisibility backend
         */
        artifact: {
          type: 'npm' | 'tarball' | 'command' | 'external';
          package?: string;
          version?: string;
          path?: string;
          bin?: string;
          command?: string;
          args?: string[];
          cwd?: string;
          endpoints?: Array<{ host: string; port: number; protocol?: string }>;
        };
        runtime?: string;
        tenant?: string;
      };
    };
  };
}
