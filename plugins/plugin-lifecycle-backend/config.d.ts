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
    /** The configuration manager. */
    configuration?: {
      /** Environments a layer may target besides `base`. Default [development, staging, production]. */
      environments?: string[];
      /** Versions kept per plugin and layer. Default 100. */
      maxVersionHistory?: number;
      /** Milliseconds between looks for other replicas' changes. Default 1000. */
      watchPollInterval?: number;
      /** Milliseconds between re-sealing and secret rotation checks. Default 60000. */
      maintenanceInterval?: number;
      encryption?: {
        /**
         * Keys for secret values (AES-256-GCM): 32 bytes, base64 or hex.
         * Rotate by adding a key and making it active; stored secrets are
         * re-sealed in the background; retire the old key afterwards.
         */
        keys?: Array<{
          id: string;
          /** @visibility secret */
          secret: string;
        }>;
        /** The key new secrets are sealed with. Default: the last one. */
        activeKeyId?: string;
      };
    };
    orchestrator?: {
      /** Operations run at once by one backend. Default 10. */
      maxConcurrentOperations?: number;
      /** Milliseconds before an operation is aborted and compensated. Default 300000. */
      defaultTimeout?: number;
      /** Bring plugins back to their desired state after a backend restart. Default true. */
      enableAutoRecovery?: boolean;
      /** Attempts per operation, the first included, for transient failures. Default 3. */
      maxAttempts?: number;
      /** First retry delay in milliseconds (exponential, with jitter). Default 1000. */
      retryBaseDelay?: number;
      /** Longest retry delay in milliseconds. Default 60000. */
      retryMaxDelay?: number;
      /** Milliseconds a replica holds an operation without renewing its lease. Default 15000. */
      leaseDuration?: number;
      /** Milliseconds between looks at the queue when idle. Default 250. */
      pollInterval?: number;
      /** Milliseconds between reconciliations (one replica at a time). Default 10000. */
      reconcileInterval?: number;
      circuitBreaker?: {
        /** Consecutive failed operations of a plugin that open its breaker. Default 5. */
        failureThreshold?: number;
        /** Milliseconds before one trial operation is let through. Default 60000. */
        coolDown?: number;
      };
    };
    /** Tenants: who sees and manages which plugins, and their quotas. */
    tenancy?: {
      /** Off (default): every plugin is in defaultTenant and every caller sees all. */
      enabled?: boolean;
      /** Entity refs (users or groups) that see and manage every tenant. */
      admins?: string[];
      tenants?: {
        [tenantId: string]: {
          /** Entity refs (users or groups); a caller belongs when one of its ownership refs is listed. */
          members?: string[];
          quota?: {
            maxPlugins?: number;
            maxInstances?: number;
            /** Kubernetes quantity, e.g. '2' or '500m'. */
            maxCpu?: string;
            /** Kubernetes quantity, e.g. '4Gi'. */
            maxMemory?: string;
          };
        };
      };
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
