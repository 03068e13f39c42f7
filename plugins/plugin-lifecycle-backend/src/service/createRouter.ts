import { AuditorService } from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  BatchRequest,
  LifecycleAction,
  actionRequestSchema,
  getOperationQuerySchema,
  listPluginsQuerySchema,
  pluginLifecycleDeployPermission,
  pluginLifecyclePermissionForAction,
  pluginLifecycleReadPermission,
  updateRollbackRequestSchema,
} from '@internal/plugin-lifecycle-common';
import express, { Request } from 'express';
import Router from 'express-promise-router';
import { PluginLifecycleOrchestrationSystem } from '../system/PluginLifecycleOrchestrationSystem';
import { inTenantScope } from '../domain/tenancy';

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
import { Caller, RouteAccess, parseInput } from './routeAccess';
import { Access, RouteAuthorizer } from './RouteAuthorizer';
import { HeldRequests } from './HeldRequests';
import { nextCursor, readCursor, readNumberPage } from './paging';

export interface RouterOptions {
  system: PluginLifecycleOrchestrationSystem;
  /** Every route's permission check. */
  authorizer: RouteAuthorizer;
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
  const { system, authorizer, auditor } = options;
  const router = Router();

  const authorize: RouteAccess['authorize'] = (req, permission, resourceRef) =>
    authorizer.authorize(req, { permission, resourceRef } as Access);
  const authorizeList: RouteAccess['authorizeList'] = (req, permission) =>
    authorizer.authorizeList(req, permission);

  /** Checks the accesses, then runs a mutation with an audit record of who did what and how it ended. */
  const audited = async <T>(
    req: Request,
    access: Access | Access[],
    eventId: string,
    meta: Record<string, string>,
    fn: (caller: Caller) => Promise<T>,
    summarize: (result: T) => unknown = result => result,
  ): Promise<T> => {
    const caller = await authorizer.authorize(
      req,
      ...(Array.isArray(access) ? access : [access]),
    );
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

  /**
   * Deploy on a plugin. One that does not exist yet is judged as the
   * request would create it (its entityRef and tenant), so that the owners
   * of an entity may install a plugin for it under a conditional policy.
   */
  const deployOn = async (pluginId: string, body: unknown): Promise<Access> => {
    const access = {
      permission: pluginLifecycleDeployPermission,
      resourceRef: pluginId,
    };
    if (await system.findPluginRecord(pluginId)) return access;
    const { tenant, entityRef } = (body ?? {}) as Record<string, unknown>;
    return {
      ...access,
      candidate: {
        id: pluginId,
        tenant: typeof tenant === 'string' ? tenant : '',
        entityRef: typeof entityRef === 'string' ? entityRef : undefined,
      },
    };
  };

  /**
   * The access an operation's route needs: `permission` on its plugin, or
   * (an unknown id) the permission on every plugin, so that only a caller
   * who could see it anyway learns that it does not exist.
   */
  const onOperation = async (
    operationId: string,
    permission: (type: string) => Access['permission'],
  ): Promise<Access> => {
    const operation = await system.getOperation(operationId).catch(error => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
    return operation
      ? ({
          permission: permission(operation.type),
          resourceRef: operation.pluginId,
        } as Access)
      : ({ permission: permission('') } as Access);
  };

  // Before the JSON body parser: the proxy streams request bodies as sent.
  if (options.discovery) {
    addDiscoveryRoutes(router, {
      ...options.discovery,
      authorize,
      authorizeList,
      audited,
    });
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
    addHealthRoutes(router, {
      health: options.health,
      authorize,
      authorizeList,
      audited,
    });
  }

  addConfigurationRoutes(router, {
    system,
    authorize,
    authorizeList,
    audited,
    shutdown: options.shutdown,
    heldRequests: options.heldRequests,
  });

  router.get('/openapi.json', (_req, res) => {
    res.json(buildOpenApiDocument());
  });

  router.get('/plugins', async (req, res) => {
    const { scope, filter: visible } = await authorizeList(
      req,
      pluginLifecycleReadPermission,
    );
    const {
      limit = 500,
      cursor,
      ...filter
    } = parseInput(listPluginsQuerySchema, req.query, 'query');
    const after =
      cursor === undefined ? undefined : readCursor(cursor, 'string');
    const page = await system.listPlugins(filter, scope, { limit, after });
    // The cursor follows the page as read: a conditional policy may keep
    // fewer items than the limit, and the next page goes on after them.
    res.json({
      items: await visible(page),
      ...nextCursor(page, limit, p => p.id),
    });
  });

  router.get('/plugins/:pluginId', async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleReadPermission,
      req.params.pluginId,
    );
    res.json(await system.getPlugin(req.params.pluginId, scope));
  });

  router.get('/plugins/:pluginId/history', async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleReadPermission,
      req.params.pluginId,
    );
    const { limit, after } = readNumberPage(req.query, 500);
    const items = await system.getHistory(req.params.pluginId, scope, {
      limit,
      afterId: after,
    });
    res.json({ items, ...nextCursor(items, limit, t => t.id) });
  });

  // install and update: a version and the rest of the request
  for (const action of ['install', 'update'] as const) {
    router.post(`/plugins/:pluginId/${action}`, async (req, res) => {
      const { pluginId } = req.params;
      const accepted = await audited(
        req,
        action === 'install'
          ? await deployOn(pluginId, req.body)
          : {
              permission: pluginLifecycleDeployPermission,
              resourceRef: pluginId,
            },
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
        { permission: pluginLifecycleDeployPermission, resourceRef: pluginId },
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
  } as const;
  for (const [command, run] of Object.entries(commands)) {
    router.post(`/plugins/:pluginId/${command}`, async (req, res) => {
      const { pluginId } = req.params;
      const accepted = await audited(
        req,
        {
          permission: pluginLifecyclePermissionForAction(
            command as keyof typeof commands,
          ),
          resourceRef: pluginId,
        },
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
      await batchAccess(req.body, deployOn),
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
      // Cancelling needs what queueing it needed (operate for an unknown id).
      await onOperation(operationId, type =>
        pluginLifecyclePermissionForAction(type as LifecycleAction),
      ),
      'operation-cancel',
      { operationId },
      ({ actor, scope }) =>
        system.cancelOperation(operationId, { userId: actor, scope }),
    );
    res.json(operation);
  });

  router.get('/plugins/:pluginId/operations', async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleReadPermission,
      req.params.pluginId,
    );
    // Newest first: the cursor is the sequence number to go on below.
    const { limit, after } = readNumberPage(req.query, 50);
    const items = await system.listOperations(req.params.pluginId, scope, {
      limit,
      beforeSeq: after,
    });
    res.json({ items, ...nextCursor(items, limit, o => o.seq) });
  });

  router.get('/operations/:operationId', async (req, res) => {
    const caller = await authorizer.authorize(
      req,
      await onOperation(
        req.params.operationId,
        () => pluginLifecycleReadPermission,
      ),
    );
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
        (tenant !== undefined && inTenantScope(scope, tenant));
      const { instances, versions } = metrics.snapshot();
      res.json({
        instances: instances.filter(i => visible(i.tenant)),
        versions: versions.filter(v => visible(v.tenant)),
      });
    });
  }

  return router;
}

/**
 * A batch needs, on each of its plugins, the permission of its action. A
 * body that is not a batch needs deploy on every plugin (it is refused as
 * a 400 after that).
 */
async function batchAccess(
  body: unknown,
  deployOn: (pluginId: string, install: unknown) => Promise<Access>,
): Promise<Access[]> {
  const operations = (body as Partial<BatchRequest> | undefined)?.operations;
  const items = Array.isArray(operations)
    ? operations.filter(
        (o): o is BatchRequest['operations'][0] =>
          typeof o?.pluginId === 'string' && typeof o?.action === 'string',
      )
    : [];
  if (items.length === 0) {
    return [{ permission: pluginLifecycleDeployPermission }];
  }
  // A plugin the batch installs is judged, for its later actions too, as
  // the install describes it.
  const created = new Map<string, Access>();
  const accesses: Access[] = [];
  for (const o of items) {
    if (o.action === 'install') {
      const access = await deployOn(o.pluginId, o.install);
      if ('candidate' in access && access.candidate) {
        created.set(o.pluginId, access);
      }
      accesses.push(access);
      continue;
    }
    const candidate = created.get(o.pluginId);
    accesses.push({
      permission: pluginLifecyclePermissionForAction(o.action),
      resourceRef: o.pluginId,
      ...(candidate && 'candidate' in candidate
        ? { candidate: candidate.candidate }
        : {}),
    });
  }
  return accesses;
}
