import { AuditorService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import express, { Request } from 'express';
import Router from 'express-promise-router';
import type { ProxyMetrics } from '../engines/discovery/ProxyMetrics';
import type { ServiceProxy } from '../engines/discovery/ServiceProxy';
import type { VersionMetricsSampler } from '../engines/metrics/VersionMetricsSampler';
import { PluginLifecycleOrchestrationSystem } from '../system/PluginLifecycleOrchestrationSystem';
import { bindConfigBackupEndpoints } from './endpoints/configBackupEndpoints';
import { bindConfigEndpoints } from './endpoints/configEndpoints';
import { bindConfigWatchEndpoint } from './endpoints/configWatchEndpoint';
import { bindDeploymentEndpoints } from './endpoints/deploymentEndpoints';
import { bindDiscoveryEndpoints } from './endpoints/discoveryEndpoints';
import { bindEventStreamEndpoint } from './endpoints/eventStreamEndpoint';
import { EndpointContext } from './endpoints/EndpointContext';
import { bindHealthEndpoints } from './endpoints/healthEndpoints';
import { bindLifecycleEndpoints } from './endpoints/lifecycleEndpoints';
import { bindMetricsEndpoints } from './endpoints/metricsEndpoints';
import { bindOpenApiEndpoint } from './endpoints/openapiEndpoint';
import { bindOperationEndpoints } from './endpoints/operationEndpoints';
import { bindPluginEndpoints } from './endpoints/pluginEndpoints';
import { bindProxyEndpoint } from './endpoints/proxyEndpoint';
import { HeldRequests } from './HeldRequests';
import { RouteAuthorizer } from './RouteAuthorizer';
import { createRouteAccess } from './routeAccess';
import { continueCallerTrace } from './callerTrace';

export interface RouterOptions {
  system: PluginLifecycleOrchestrationSystem;
  /** Every route's permission check. */
  authorizer: RouteAuthorizer;
  auditor: AuditorService;
  /** The `/proxy` route's data plane. */
  proxy?: ServiceProxy;
  /** Served at `GET /metrics/services`. */
  proxyMetrics?: ProxyMetrics;
  /** Served at `GET /plugins/{pluginId}/metrics/versions`. */
  versionHistory?: VersionMetricsSampler;
  /** Aborted when the backend shuts down: configuration long-polls answer and event streams end. */
  shutdown?: AbortSignal;
  /** Caps on long-polls and event streams; unlimited when not given. */
  heldRequests?: HeldRequests;
  /** Between the heartbeat comments of `GET /events` (15 s by default). */
  eventHeartbeatMs?: number;
}

/**
 * The HTTP API, assembled from one file per endpoint group
 * (`endpoints/`), each mounting its routes of the registry in
 * plugin-lifecycle-common. Each handler checks permission, calls the
 * facade and audits mutations; errors are `@backstage/errors` and become
 * 400/403/404/409 through the error handler.
 */
export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const { system } = options;
  const router = Router();
  router.use(continueCallerTrace);
  const context: EndpointContext = {
    ...createRouteAccess(options),
    system,
    shutdown: options.shutdown,
    heldRequests: options.heldRequests,
  };

  // Before the JSON body parser: these parse their own bodies, and the
  // proxy streams request bodies as sent.
  bindDiscoveryEndpoints(router, {
    ...context,
    discovery: system.discoveryCommands,
  });
  if (options.proxy) {
    bindProxyEndpoint(router, { ...context, proxy: options.proxy });
  }
  // Large enough for a configuration export being imported.
  router.use(express.json({ limit: '10mb' }));
  // A body that is not JSON: say so without the parser's message, which
  // quotes the body back (a secret in a mistyped request would be echoed).
  router.use(
    (
      error: { type?: string } | undefined,
      _req: Request,
      _res: express.Response,
      next: express.NextFunction,
    ) => {
      next(
        error?.type === 'entity.parse.failed'
          ? new InputError('Invalid request body: it is not valid JSON')
          : error,
      );
    },
  );

  bindHealthEndpoints(router, { ...context, health: system.healthQueries });
  bindConfigEndpoints(router, context);
  bindConfigWatchEndpoint(router, context);
  bindEventStreamEndpoint(router, {
    ...context,
    heartbeatMs: options.eventHeartbeatMs,
  });
  bindConfigBackupEndpoints(router, context);
  bindOpenApiEndpoint(router);
  bindPluginEndpoints(router, context);
  bindLifecycleEndpoints(router, context);
  bindOperationEndpoints(router, context);
  bindDeploymentEndpoints(router, context);
  bindMetricsEndpoints(router, {
    ...context,
    proxyMetrics: options.proxyMetrics,
    versionHistory: options.versionHistory,
  });
  return router;
}
