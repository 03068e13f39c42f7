import {
  AuditorService,
  HttpAuthService,
  PermissionsService,
  UserInfoService,
} from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError } from '@backstage/errors';
import {
  actionRequestSchema,
  getOperationQuerySchema,
  listPluginsQuerySchema,
  pageQuerySchema,
  pluginLifecycleManagePermission,
  pluginLifecycleReadPermission,
  updateRollbackRequestSchema,
} from '@internal/plugin-lifecycle-common';
import {
  BasicPermission,
  AuthorizeResult,
} from '@backstage/plugin-permission-common';
import express, { Request } from 'express';
import Router from 'express-promise-router';
import { PluginLifecycleOrchestrationSystem } from '../system/PluginLifecycleOrchestrationSystem';
import { ALL_TENANTS, Tenancy, TenantScope } from '../system/Tenancy';

/** The Idempotency-Key header, when given, counts as the body's idempotencyKey. */
function withIdempotencyKey(req: Request, body: unknown) {
  const key = req.header('idempotency-key');
  if (!key || !body || typeof body !== 'object' || Array.isArray(body))
    return body as any;
  return { ...(body as object), idempotencyKey: key };
}
import { buildOpenApiDocument } from './openapi';
import { addConfigurationRoutes } from './configRoutes';
import { addDiscoveryRoutes } from './discoveryRoutes';
import { addHealthRoutes } from './healthRoutes';
import { ServiceProxy } from '../engines/discovery/ServiceProxy';
import { ServiceDiscovery } from '../engines/discovery/ServiceDiscovery';
import { HealthMonitor } from '../engines/health/HealthMonitor';
import { ProxyMetrics } from '../engines/discovery/ProxyMetrics';
import { parseInput } from './routeAccess';
import { HeldRequests } from './HeldRequests';
import { nextCursor, readCursor } from './paging';

export interface RouterOptions {
  system: PluginLifecycleOrchestrationSystem;
  httpAuth: HttpAuthService;
  userInfo: UserInfoService;
  permissions: PermissionsService;
  auditor: AuditorService;
  /** Discovery and its proxy: the `/services` and `/proxy` routes. */
  discovery?: { discovery: ServiceDiscovery; proxy: ServiceProxy };
  /** The `/plugins/{id}/health` and `/plugins/{id}/probes` routes. */
  health?: HealthMonitor;
  /** Served at `GET /metrics/services`. */
  proxyMetrics?: ProxyMetrics;
  /** Aborted when the backend shuts down: configuration long-polls answer and event streams end. */
  shutdown?: AbortSignal;
  /** Caps on long-polls and event streams; unlimited when not given. */
  heldRequests?: HeldRequests;
}

/**
 * The HTTP API. Thin: each handler checks permission, validates with the
 * shared zod schemas, calls the facade and audits mutations; errors are
 * `@backstage/errors` and become 400/403/404/409 through the error handler.
 */
export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const { system, httpAuth, userInfo, permissions, auditor } = options;
  const router = Router();

  /** Checks the permission and says who the caller is and which tenants it may act on. */
  const authorize = async (
    req: Request,
    permission: BasicPermission,
  ): Promise<{ actor?: string; scope: TenantScope }> => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const [decision] = await permissions.authorize([{ permission }], {
      credentials,
    });
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(`Not allowed: ${permission.name}`);
    }
    if (credentials.principal.type === 'user') {
      const info = await userInfo.getUserInfo(credentials);
      return {
        actor: info.userEntityRef,
        scope: system.scopeForUser(info.ownershipEntityRefs),
      };
    }
    // Other backend plugins act for the whole installation.
    return { actor: credentials.principal.subject, scope: ALL_TENANTS };
  };

  /** Runs a mutation with an audit record of who did what and how it ended. */
  const audited = async <T>(
    req: Request,
    eventId: string,
    meta: Record<string, string>,
    fn: (caller: { actor?: string; scope: TenantScope }) => Promise<T>,
    summarize: (result: T) => unknown = result => result,
  ): Promise<T> => {
    const caller = await authorize(req, pluginLifecycleManagePermission);
    const event = await auditor.createEvent({ eventId, request: req, meta });
    try {
      const result = await fn(caller);
      await event.success({
        meta: {
          result: JSON.parse(JSON.stringify(summarize(result) ?? null)),
        },
      });
      return result;
    } catch (error) {
      await event.fail({ error: error as Error });
      throw error;
    }
  };

  // Before the JSON body parser: the proxy streams request bodies as sent.
  if (options.discovery) {
    addDiscoveryRoutes(router, { ...options.discovery, authorize, audited });
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

  if (options.health) {
    addHealthRoutes(router, { health: options.health, authorize, audited });
  }

  addConfigurationRoutes(router, {
    system,
    authorize,
    audited,
    shutdown: options.shutdown,
    heldRequests: options.heldRequests,
    isAllowed: async (req, permission) => {
      const credentials = await httpAuth.credentials(req, {
        allow: ['user', 'service'],
      });
      const [decision] = await permissions.authorize([{ permission }], {
        credentials,
      });
      return decision.result === AuthorizeResult.ALLOW;
    },
  });

  router.get('/openapi.json', (_req, res) => {
    res.json(buildOpenApiDocument());
  });

  router.get('/plugins', async (req, res) => {
    const { scope } = await authorize(req, pluginLifecycleReadPermission);
    const {
      limit = 500,
      cursor,
      ...filter
    } = parseInput(listPluginsQuerySchema, req.query, 'query');
    const after =
      cursor === undefined ? undefined : readCursor(cursor, 'string');
    const items = await system.listPlugins(filter, scope, { limit, after });
    res.json({ items, ...nextCursor(items, limit, p => p.id) });
  });

  router.get('/plugins/:pluginId', async (req, res) => {
    const { scope } = await authorize(req, pluginLifecycleReadPermission);
    res.json(await system.getPlugin(req.params.pluginId, scope));
  });

  router.get('/plugins/:pluginId/history', async (req, res) => {
    const { scope } = await authorize(req, pluginLifecycleReadPermission);
    const { limit = 500, cursor } = parseInput(
      pageQuerySchema,
      req.query,
      'query',
    );
    const afterId =
      cursor === undefined ? undefined : readCursor(cursor, 'number');
    const items = await system.getHistory(req.params.pluginId, scope, {
      limit,
      afterId,
    });
    res.json({ items, ...nextCursor(items, limit, t => t.id) });
  });

  // install and update: a version and the rest of the request
  for (const action of ['install', 'update'] as const) {
    router.post(`/plugins/:pluginId/${action}`, async (req, res) => {
      const { pluginId } = req.params;
      const accepted = await audited(
        req,
        `plugin-${action}`,
        { pluginId },
        ({ actor, scope }) => {
          const body = withIdempotencyKey(req, req.body);
          if (!body || typeof body !== 'object' || Array.isArray(body)) {
            throw new InputError(
              `Invalid ${action} request: the body must be a JSON object`,
            );
          }
          const { version, ...rest } = body;
          if (version === undefined) {
            throw new InputError(
              `Invalid ${action} request: version is required (a semantic version such as 1.2.3)`,
            );
          }
          const request = { ...rest, userId: actor, scope };
          return action === 'install'
            ? system.installPlugin(pluginId, version, request)
            : system.updatePlugin(pluginId, version, request);
        },
      );
      res.status(202).json(accepted);
    });
  }

  // A succeeded update undone: its previous version with its configuration.
  router.post(
    '/plugins/:pluginId/update/:operationId/rollback',
    async (req, res) => {
      const { pluginId, operationId } = req.params;
      const accepted = await audited(
        req,
        'plugin-update-rollback',
        { pluginId, operationId },
        ({ actor, scope }) => {
          const body = parseInput(
            updateRollbackRequestSchema,
            withIdempotencyKey(req, req.body ?? {}),
            'rollback request',
          );
          return system.rollbackUpdate(pluginId, operationId, {
            ...body,
            userId: actor,
            scope,
          });
        },
      );
      res.status(202).json(accepted);
    },
  );

  const commands = {
    start: system.startPlugin,
    stop: system.stopPlugin,
    restart: system.restartPlugin,
    uninstall: system.uninstallPlugin,
  };
  for (const [command, run] of Object.entries(commands)) {
    router.post(`/plugins/:pluginId/${command}`, async (req, res) => {
      const { pluginId } = req.params;
      const accepted = await audited(
        req,
        `plugin-${command}`,
        { pluginId },
        ({ actor, scope }) => {
          const body = parseInput(
            actionRequestSchema,
            withIdempotencyKey(req, req.body ?? {}),
            `${command} request`,
          );
          return run.call(system, pluginId, { ...body, userId: actor, scope });
        },
      );
      res.status(202).json(accepted);
    });
  }

  router.post('/operations/batch', async (req, res) => {
    const accepted = await audited(
      req,
      'operation-batch',
      {},
      ({ actor, scope }) =>
        system.submitBatch(withIdempotencyKey(req, req.body), {
          userId: actor,
          scope,
        }),
    );
    res.status(202).json(accepted);
  });

  router.post('/operations/:operationId/cancel', async (req, res) => {
    const { operationId } = req.params;
    const operation = await audited(
      req,
      'operation-cancel',
      { operationId },
      ({ actor, scope }) =>
        system.cancelOperation(operationId, { userId: actor, scope }),
    );
    res.json(operation);
  });

  router.get('/plugins/:pluginId/operations', async (req, res) => {
    const { scope } = await authorize(req, pluginLifecycleReadPermission);
    const { limit = 50, cursor } = parseInput(
      pageQuerySchema,
      req.query,
      'query',
    );
    const beforeSeq =
      cursor === undefined ? undefined : readCursor(cursor, 'number');
    const items = await system.listOperations(req.params.pluginId, scope, {
      limit,
      beforeSeq,
    });
    res.json({ items, ...nextCursor(items, limit, o => o.seq) });
  });

  router.get('/operations/:operationId', async (req, res) => {
    const caller = await authorize(req, pluginLifecycleReadPermission);
    const { scope } = caller;
    const { waitSeconds } = parseInput(
      getOperationQuerySchema,
      req.query,
      'query',
    );
    if (!waitSeconds) {
      res.json(await system.getOperation(req.params.operationId, scope));
      return;
    }
    // Taken after the permission check, released when the answer is gone.
    const release = options.heldRequests?.acquire(caller.actor ?? 'anonymous');
    // A caller that goes away ends its wait.
    const gone = new AbortController();
    res.on('close', () => {
      release?.();
      gone.abort();
    });
    res.json(
      await system.waitForOperation(req.params.operationId, {
        scope,
        timeoutMs: waitSeconds * 1000,
        intervalMs: 250,
        signal: gone.signal,
      }),
    );
  });

  router.get('/metrics/system', async (req, res) => {
    const { scope } = await authorize(req, pluginLifecycleReadPermission);
    res.json(await system.getSystemMetrics(scope));
  });

  if (options.proxyMetrics) {
    const metrics = options.proxyMetrics;
    // Per instance and per version of each service, as this replica proxied them.
    router.get('/metrics/services', async (req, res) => {
      const { scope } = await authorize(req, pluginLifecycleReadPermission);
      const visible = (tenant?: string) =>
        scope.all === true ||
        (tenant !== undefined && Tenancy.includes(scope, tenant));
      const { instances, versions } = metrics.snapshot();
      res.json({
        instances: instances.filter(i => visible(i.tenant)),
        versions: versions.filter(v => visible(v.tenant)),
      });
    });
  }

  return router;
}
