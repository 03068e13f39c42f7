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
     * any. Default ['external']: a command or tarball path in a request would
     * run code from the backend's machine, and an npm package runs whatever
     * its author wrote; add 'npm' to let callers install packages ('image':
     * container images, for a cluster runtime such as kubernetes).
     */
    requestArtifactTypes?: Array<
      'npm' | 'tarball' | 'command' | 'external' | 'image'
    >;
    /**
     * Caps on requests a replica holds open: configuration watches
     * (long-poll and server-sent events) and `GET /operations/{id}?waitSeconds`.
     * Past either cap a new one is answered 429 at once.
     */
    heldRequests?: {
      /** Per caller (user entity ref or service). Default 20. */
      maxPerCaller?: number;
      /** For all callers together. Default 1000. */
      maxTotal?: number;
    };
    /** Metrics kept by the backend besides the proxy's counters. */
    metrics?: {
      /**
       * Export the plugin's metrics (plugin_lifecycle_*: plugins by state,
       * instances by health, probes, proxied requests per service and
       * version, operations, deployments, configuration) through Backstage's
       * MetricsService, i.e. OpenTelemetry: they reach Prometheus (or an
       * OTLP collector) when the backend sets up the OpenTelemetry SDK with
       * a metrics exporter (see the README's "Metrics" section). Without an
       * SDK the instruments cost next to nothing. Default true. The original
       * design's globalSettings.enableMetrics sets it.
       */
      export?: boolean;
      /**
       * The history of request rate, error rate and latency per plugin
       * version (GET /plugins/{id}/metrics/versions, the Health tab's
       * charts): sampled from the proxy's counters into a ring buffer per
       * version. Kept in memory by each backend replica, of the traffic
       * through its own data planes, and lost on restart.
       */
      versionHistory?: {
        /** Milliseconds between samples (at least 100). Default 5000. */
        sampleInterval?: number;
        /** Milliseconds of history kept. Default 1800000 (30 minutes). */
        retention?: number;
        /** Most versions (of all plugins) kept at once; the longest idle goes first. Default 200. */
        maxSeries?: number;
      };
    };
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
    /**
     * The operation queue. maxConcurrentOperations, defaultTimeout and
     * enableAutoRecovery are the original design's keys as well.
     */
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
      /**
       * What one instance counts against its tenant's maxCpu and maxMemory
       * (Kubernetes quantities, e.g. 500m and 512Mi); plugins.<id>.resources
       * overrides it. A manifest's `resources` may ask for less, never more;
       * without a size here the manifest's word is all that counts.
       */
      instanceResources?: { cpu?: string; memory?: string };
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
    /** Service discovery, load balancing and the proxy. */
    discovery?: {
      /** Milliseconds between looks for other replicas' changes. Default 1000. */
      pollInterval?: number;
      /** Milliseconds between TTL checks. Default 1000. */
      expireInterval?: number;
      /** Milliseconds between full reloads of the view. Default 60000. */
      resyncInterval?: number;
      /**
       * Run the health checks registered services name (`healthCheck` of
       * `POST /services`), taking a failing instance out of load balancing.
       * False: none is run and instances take traffic as registered (TTLs
       * and heartbeats still count). Plugins' own probes are not affected
       * (see health.enabled). Default true. The original design's
       * serviceDiscovery.enableHealthChecks sets it.
       */
      healthChecks?: boolean;
      /** Default 'round-robin'. */
      defaultStrategy?:
        | 'round-robin'
        | 'weighted-round-robin'
        | 'least-connections'
        | 'ip-hash'
        | 'health-weighted';
      /** Below this share of eligible instances, ejected ones take traffic again (0 to 1; never unready ones). Default 0.5. */
      panicThreshold?: number;
      /**
       * Plugin ids whose `discovery.getBaseUrl` resolves through the proxy
       * (with `managedPluginDiscoveryServiceFactory`). Default: the ids under `plugins`.
       */
      managedPlugins?: string[];
      /**
       * CIDRs that registered services (`POST /services`), external
       * endpoints and registered services' health checks may point at; a
       * host name must resolve inside them. Link-local addresses
       * (169.254.0.0/16, fe80::/10, cloud metadata), the backend's own port
       * on this host and its database's host:port are refused whatever this
       * says. Default loopback and private ranges: 127.0.0.0/8, ::1/128,
       * 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7.
       */
      allowedTargets?: string[];
      /**
       * Ids of Backstage's own backend plugins, which no registered service
       * may take as its name (the backend's installed plugins and every
       * managed plugin are reserved too). Default: app, auth, catalog,
       * devtools, events, kubernetes, notifications, permission,
       * plugin-lifecycle, proxy, scaffolder, search, signals, techdocs,
       * user-settings.
       */
      reservedServiceNames?: string[];
      /** Passive outlier ejection from proxy errors. */
      ejection?: {
        /** Failed requests in a row that eject an instance. Default 5. */
        consecutiveFailures?: number;
        /** Milliseconds of the first ejection, doubled for each further one. Default 30000. */
        baseEjectionTime?: number;
        /** Longest ejection in milliseconds. Default 300000. */
        maxEjectionTime?: number;
      };
      proxy?: {
        /** Further attempts on other instances after a failed connection. Default 2. */
        maxRetries?: number;
        /** Milliseconds. Default 5000. */
        connectTimeout?: number;
        /** Milliseconds until the upstream's response headers. Default 60000. */
        headersTimeout?: number;
        /**
         * Milliseconds per attempt of an idempotent request without a body,
         * until the upstream's response headers (like Envoy's per_try_timeout):
         * a late instance counts as failed (outlier ejection) and the request
         * goes to another one within maxRetries; 504 when none is left. Other
         * requests keep only headersTimeout. Default: off.
         */
        attemptTimeout?: number;
        /** Milliseconds between two chunks of the response body. Default 300000. */
        bodyTimeout?: number;
        /**
         * Service names (plugin ids) whose upstreams get the caller's Cookie
         * header and may send Set-Cookie back. Default []: cookies stop at
         * the proxy.
         */
        passCookies?: string[];
      };
      /**
       * A listener of its own for proxied traffic (`/proxy/{serviceName}/...`),
       * without Backstage's middleware: the fast path for other backends.
       */
      dataPlane?: {
        /** 0 picks a free port. */
        port: number;
        /** Default 127.0.0.1. */
        host?: string;
        /**
         * When set, callers must send it as a bearer token (or in the
         * x-plugin-lifecycle-proxy-token header), and only they may pick a
         * tenant with x-plugin-lifecycle-tenant. Required when host is not
         * loopback, unless allowUnauthenticated.
         * @visibility secret
         */
        token?: string;
        /** Listen beyond loopback without a token. Default false. */
        allowUnauthenticated?: boolean;
        /**
         * The tenants this listener's callers reach: what the token (or,
         * without one, anyone on loopback) stands for. Default all tenants.
         */
        tenants?: string[];
        /** How other backends reach it, when not host:port. */
        url?: string;
        /**
         * node (default): the ServiceProxy listener in this backend process.
         * nginx: nginx, configured from discovery and reloaded on every
         * routing change, its access log read back into the proxy metrics
         * and outlier ejection (needs nginx installed; see BENCHMARKS.md).
         */
        engine?: 'node' | 'nginx';
        nginx?: {
          /** Default: /usr/sbin/nginx, /usr/bin/nginx or nginx on the PATH. */
          binary?: string;
          /** nginx worker processes. Default 1. */
          workers?: number;
          /** Holds its configuration, logs and temporary files. Default: a new temporary directory. */
          directory?: string;
        };
      };
    };
    /** The health monitor. */
    health?: {
      /** Off: nothing is probed. Default true. */
      enabled?: boolean;
      /**
       * Honour probes' `circuitBreaker` settings (an open breaker skips the
       * probe until its recoveryTimeout). False ignores them: every probe
       * runs each period. Default true. The original design's
       * healthMonitor.enableCircuitBreakers sets it.
       */
      circuitBreakers?: boolean;
      /**
       * What a probe that leaves them out gets, instead of Kubernetes'
       * defaults (a period of 10 s, 3 failures). A probe's own values win.
       */
      probeDefaults?: {
        /**
         * Seconds between runs (at least 0.01; probeLimits.minPeriodSeconds
         * bounds what probes ask for, not this). Default 10. The original
         * design's healthMonitor.healthCheckInterval (milliseconds) sets it.
         */
        periodSeconds?: number;
        /**
         * Consecutive failures that make a probe fail. Default 3. The
         * original design's healthMonitor.maxConsecutiveFailures sets it.
         */
        failureThreshold?: number;
      };
      /** Milliseconds between this replica's heartbeats. Default 2000. */
      heartbeatInterval?: number;
      /** Milliseconds of silence after which a replica's targets move. Default 10000. */
      replicaTimeout?: number;
      /** Probes running at once per replica. Default 64. */
      maxConcurrentProbes?: number;
      /** Milliseconds between reads of instances and probes. Default 5000. */
      targetRefreshInterval?: number;
      /** Milliseconds between writes of results. Default 1000. */
      flushInterval?: number;
      /** Milliseconds between reads of other replicas' results. Default 1000. */
      feedInterval?: number;
      retention?: {
        /** Results kept per probe. Default 100. */
        maxResultsPerProbe?: number;
        /** Milliseconds results are kept. Default 86400000. */
        maxAge?: number;
        /** Milliseconds between stored results that do not differ. Default 60000. */
        sampleInterval?: number;
        /** Milliseconds between rewrites of a probe's status. Default 60000. */
        statusRefresh?: number;
        /** Milliseconds between prunes. Default 300000. */
        pruneInterval?: number;
      };
      /** Back-off between restarts of an instance that keeps failing. */
      restartBackoff?: {
        /** Milliseconds before the first restart. Default 1000. */
        base?: number;
        /** Longest delay in milliseconds. Default 300000. */
        max?: number;
        /** Milliseconds live after which restarts are forgotten. Default 600000. */
        stable?: number;
      };
      /** Exec probes: commands run on the backend's host, with its user. */
      exec?: {
        /**
         * Commands (argv[0], compared as written: 'sh' does not allow
         * '/bin/sh') that any exec probe may run: a plugin's probes (from
         * a request or its package's manifest) and a registered service's
         * health check. Default []: every exec probe is refused with a 403.
         * A probe command runs with PATH as its only inherited variable.
         */
        allowedCommands?: string[];
      };
      /**
       * How often and how many probes an install or update request, a
       * package's manifest, `PUT /plugins/{id}/probes` or a service's health
       * check may ask for; more is a 400 naming the key.
       */
      probeLimits?: {
        /** Shortest probe period in seconds. Default 1 (at least 0.01). */
        minPeriodSeconds?: number;
        /** Most probes of one plugin or registration. Default 16 (at most 64). */
        maxProbesPerPlugin?: number;
      };
      /** Remediation per plugin id; `*` applies to every plugin. */
      remediation?: {
        [pluginId: string]: {
          /** Default 'restart'. */
          onLivenessFailure?: 'restart' | 'mark-error' | 'event' | 'none';
          /** Default 'out-of-rotation'. */
          onReadinessFailure?: 'out-of-rotation' | 'event' | 'none';
          /** Restarts, error markings and events per plugin per hour. Default 10. */
          maxPerHour?: number;
        };
      };
    };
    /**
     * The original design's service discovery settings, mapped onto ours.
     * Where both are set and differ, ours wins (with a warning at start).
     */
    serviceDiscovery?: {
      /** Maps to discovery.healthChecks. Default true. */
      enableHealthChecks?: boolean;
      /**
       * Load balancing cannot be turned off (discovery always picks an
       * instance by a strategy): false stops the backend at start. Default
       * true.
       */
      enableLoadBalancing?: boolean;
      /** Maps to tenancy.enabled. Default false. */
      tenantIsolation?: boolean;
    };
    /**
     * The original design's health monitor settings, mapped onto ours.
     * Where both are set and differ, ours wins (with a warning at start).
     */
    healthMonitor?: {
      /** Maps to health.circuitBreakers. Default true. */
      enableCircuitBreakers?: boolean;
      /**
       * Restart an instance whose liveness probe fails. Maps to
       * health.remediation['*'].onLivenessFailure: true is 'restart' (the
       * default), false is 'event' (the failure is announced, nothing is
       * restarted). Default true.
       */
      enableAutoRecovery?: boolean;
      /** Maps to health.probeDefaults.failureThreshold. Default 3. */
      maxConsecutiveFailures?: number;
      /**
       * Milliseconds between probe runs. Maps to
       * health.probeDefaults.periodSeconds (divided by 1000). Default 10000.
       */
      healthCheckInterval?: number;
    };
    /**
     * The original design's configuration manager settings, mapped onto
     * ours. Where both are set and differ, ours wins (with a warning).
     */
    configurationManager?: {
      /**
       * Every configuration change is a version (rollback, audit and watches
       * depend on it): false stops the backend at start. Default true.
       */
      enableVersioning?: boolean;
      /**
       * Secret and sensitive values are always stored encrypted (with
       * configuration.encryption.keys; without a key they are refused):
       * false stops the backend at start; true without a key warns.
       * Default true.
       */
      enableEncryption?: boolean;
      /** Maps to configuration.maxVersionHistory. Default 100. */
      maxVersionHistory?: number;
    };
    /**
     * The original design's global settings, mapped onto ours. Where both
     * are set and differ, ours wins (with a warning at start).
     */
    globalSettings?: {
      /** Maps to metrics.export. Default true. */
      enableMetrics?: boolean;
      /**
       * Every change is recorded through Backstage's auditor service, which
       * decides where audit events go: false stops the backend at start.
       * Default true.
       */
      enableAuditLogging?: boolean;
      /** Maps to defaultEnvironment. Default 'production'. */
      defaultEnvironment?: string;
    };
    /** How the backend stops (SIGTERM, SIGINT). */
    /** The deployment controller (blue-green, canary, rolling, A/B testing, recreate). */
    deployments?: {
      /**
       * Milliseconds between the controller's looks for deployments that are
       * due (a step to execute, a window to judge, a timeout). Default 250.
       */
      tickInterval?: number;
      /**
       * Milliseconds a replica's claim on a deployment lasts without renewal;
       * a replica that dies holding one is replaced after this. Default 15000.
       */
      leaseDuration?: number;
      /**
       * Versions of a plugin whose files stay installed after a deployment,
       * the running one included, for rollback. Default 3.
       */
      keepVersions?: number;
    };
    shutdown?: {
      /**
       * Milliseconds from the first SIGTERM or SIGINT within which the plugin
       * stops: proxied requests (on both listeners) get until then to finish,
       * then their connections are closed and their upstream requests
       * aborted; configuration long-polls answer and event streams end at
       * once; probes and timers stop. If the process has not exited by then
       * (plus one second), it exits (managed instances still running get
       * SIGKILL first when `stopInstances` is true). A second signal exits
       * at once (Backstage's handling).
       * Set it below the orchestrator's own grace period (Kubernetes:
       * terminationGracePeriodSeconds, default 30 s), counting
       * `backend.lifecycle.serverShutdownDelay` in it. Default 10000.
       */
      gracePeriod?: number;
      /**
       * Whether the instances of managed plugins (process runtime) stop
       * with the backend, gracefully or on the forced exit after the grace
       * period. Default false: they run on, detached from the backend (their
       * own session, output to files under dataDir), and the next backend
       * adopts those still running (same pid and start time, answering on
       * their port), so a backend restart or upgrade restarts no plugin.
       * The nginx data plane, when used, runs on with them. True stops them
       * (and the data plane) as before.
       */
      stopInstances?: boolean;
    };
    runtime?: {
      /**
       * What happens to an instance that exits without being asked to, as a
       * kubelet restarts a container: it is replaced after a back-off that
       * doubles with each crash (backoffBase, at most backoffMax, in
       * milliseconds), and the plugin stays running while it has instances
       * left; after more than maxRestarts crashes within window milliseconds
       * (a crash loop) the plugin goes to error instead.
       * Defaults: 1000, 60000, 5, 600000.
       */
      restartPolicy?: {
        backoffBase?: number;
        backoffMax?: number;
        maxRestarts?: number;
        window?: number;
      };
      process?: {
        /** Interface instances listen on. Default 127.0.0.1. */
        host?: string;
        /** Milliseconds for an instance to accept connections. Default 30000. */
        startTimeout?: number;
        /** Milliseconds for an instance to pass startup and readiness probes. Default 60000. */
        readyTimeout?: number;
        /** Milliseconds between SIGTERM and SIGKILL. Default 10000. */
        stopGracePeriod?: number;
        /** npm artifacts. */
        npm?: {
          /**
           * Run package scripts at install: `prepare` when a git or
           * directory spec is packed, and the install scripts (preinstall,
           * install, postinstall) of the package and its dependencies.
           * Default false: npm runs with --ignore-scripts, so installing a
           * version runs none of its code; it runs only when started.
           */
          allowScripts?: boolean;
        };
        /**
         * Which Unix users plugin processes (instances, npm at install, and
         * a plugin's exec probes) run as. Switching users needs a backend
         * running as root; see docs/security/isolation.md.
         */
        isolation?: {
          /**
           * per-plugin-user: each plugin its own unprivileged user, its files
           * owned by it (0700/0600); shared-user: one unprivileged user for
           * all plugins (kept from the backend, not from each other); none:
           * the backend's user. Default per-plugin-user when the backend
           * runs as root, else none (with a warning at startup).
           */
          mode?: 'per-plugin-user' | 'shared-user' | 'none';
          /** Prefix of the user derived from a plugin id. Default 'pl-'. */
          userPrefix?: string;
          /** The user of every plugin in shared-user mode. Default '<prefix>plugins'. */
          sharedUser?: string;
          /** The user registered services' exec probes run as. Default '<prefix>probes'. */
          probeUser?: string;
          /** Existing users to run given plugins as, by plugin id; never created. */
          users?: { [pluginId: string]: string };
          /**
           * Create missing users with useradd (system users, no home, no
           * login shell). Default true.
           */
          createUsers?: boolean;
        };
      };
    };
    /**
     * Desired versions from the catalog: a managed plugin's linked entity
     * (its `entityRef`) may declare the version it wants and how to roll it
     * out (annotations `plugin-lifecycle.backstage.io/version`, `.../strategy`,
     * `.../strategy-config`); catalog sync starts a deployment when the
     * plugin runs another. Off by default, and then only for the plugins
     * named here or with `plugins.<id>.catalogSync`: the operator decides
     * which plugins follow the catalog, not whoever edits an entity. Each
     * declared state is acted on once (see README, Catalog annotations).
     */
    catalogSync?: {
      /** Run catalog sync. Default false. */
      enabled?: boolean;
      /** Milliseconds between passes; one replica at a time runs one. Default 60000, at least 1000. */
      interval?: number;
      /** Plugin ids that follow their entity, besides those with plugins.<id>.catalogSync. Default []. */
      plugins?: string[];
    };
    /** Plugins known to this backend, by id: where their versions come from. */
    plugins?: {
      [pluginId: string]: {
        /**
         * The artifact of every version; `${version}` in a tarball path or an
         * image reference is replaced (write `$${version}` in YAML: Backstage's
         * config reads `${...}` as an environment variable).
         * @deepVisibility backend
         */
        artifact: {
          type: 'npm' | 'tarball' | 'command' | 'external' | 'image';
          package?: string;
          /** npm: a version, range or tag, or a file:, git or URL spec. Default: the plugin version. */
          version?: string;
          path?: string;
          bin?: string;
          /** command: the program; image: the container's command (a list). */
          command?: string | string[];
          /** image: a container image reference, for a cluster runtime (kubernetes). */
          image?: string;
          /** image: the port the container listens on. Default 8080. */
          port?: number;
          /** command and npm: arguments; `${PORT}` and `${HOST}` are replaced. image: the container's arguments. */
          args?: string[];
          cwd?: string;
          endpoints?: Array<{ host: string; port: number; protocol?: string }>;
        };
        /**
         * The versions the install and update forms offer (semantic versions,
         * shown newest first), instead of those the artifact source lists: the
         * files a tarball path template matches, or the npm registry's versions.
         * Without it, a command or external artifact offers none.
         */
        versions?: string[];
        runtime?: string;
        tenant?: string;
        /**
         * This plugin's own probes (not a service's that names it) may run
         * any command in exec probes. Default false.
         */
        allowExecProbes?: boolean;
        /**
         * Follows the version its linked catalog entity declares, when
         * catalogSync.enabled is set. Default false.
         */
        catalogSync?: boolean;
        /** What one of its instances counts against its tenant's quota (see tenancy.instanceResources). */
        resources?: { cpu?: string; memory?: string };
        /** This plugin's restart policy; unset keys come from runtime.restartPolicy. */
        restartPolicy?: {
          backoffBase?: number;
          backoffMax?: number;
          maxRestarts?: number;
          window?: number;
        };
      };
    };
  };
}
