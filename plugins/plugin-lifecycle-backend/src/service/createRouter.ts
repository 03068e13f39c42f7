import {
  AuditorService,
  HttpAuthService,
  PermissionsService,
  UserInfoService,
} from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError } from '@backstage/errors';
import {
  actionRequestSchema,
  listPluginsQuerySchema,
  pluginLifecycleManagePermission,
  pluginLifecycleReadPermission,
} from '@internal/plugin-lifecycle-common';
import {
  BasicPermission,
  AuthorizeResult,
} from '@backstage/plugin-permission-common';
import express, { Request } from 'express';
import Router from 'express-promise-router';
import { z } from 'zod';
import { PluginLifecycleOrchestrationSystem } from '../system/PluginLifecycleOrchestrationSystem';
import { zodMessage } from '../system/zodMessage';
import { buildOpenApiDocument } from './openapi';

export interface RouterOptions {
  system: PluginLifecycleOrchestrationSystem;
  httpAuth: HttpAuthService;
  userInfo: UserInfoService;
  permissions: PermissionsService;
  auditor: AuditorService;
}

function parse<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new InputError(`Invalid ${what}: ${zodMessage(result.error)}`);
  }
  return result.data;
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
  router.use(express.json({ limit: '1mb' }));

  const authorize = async (req: Request, permission: BasicPermission) => {
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
      return (await userInfo.getUserInfo(credentials)).userEntityRef;
    }
    return credentials.principal.type === 'service'
      ? credentials.principal.subject
      : undefined;
  };

  /** Runs a mutation with an audit record of who did what and how it ended. */
  const audited = async <T>(
    req: Request,
    eventId: string,
    meta: Record<string, string>,
    fn: (actor: string | undefined) => Promise<T>,
  ): Promise<T> => {
    const actor = await authorize(req, pluginLifecycleManagePermission);
    const event = await auditor.createEvent({ eventId, request: req, meta });
    try {
      const result = await fn(actor);
      await event.success({
        meta: { result: JSON.parse(JSON.stringify(result ?? null)) },
      });
      return result;
    } catch (error) {
      await event.fail({ error: error as Error });
      throw error;
    }
  };

  router.get('/openapi.json', (_req, res) => {
    res.json(buildOpenApiDocument());
  });

  router.get('/plugins', async (req, res) => {
    await authorize(req, pluginLifecycleReadPermission);
    const filter = parse(listPluginsQuerySchema, req.query, 'query');
    res.json({ items: await system.listPlugins(filter) });
  });

  router.get('/plugins/:pluginId', async (req, res) => {
    await authorize(req, pluginLifecycleReadPermission);
    res.json(await system.getPlugin(req.params.pluginId));
  });

  router.get('/plugins/:pluginId/history', async (req, res) => {
    await authorize(req, pluginLifecycleReadPermission);
    res.json({ items: await system.getHistory(req.params.pluginId) });
  });

  router.post('/plugins/:pluginId/install', async (req, res) => {
    const { pluginId } = req.params;
    const accepted = await audited(
      req,
      'plugin-install',
      { pluginId },
      actor => {
        if (
          !req.body ||
          typeof req.body !== 'object' ||
          Array.isArray(req.body)
        ) {
          throw new InputError(
            'Invalid install request: the body must be a JSON object',
          );
        }
        const { version, ...rest } = req.body;
        if (version === undefined) {
          throw new InputError(
            'Invalid install request: version is required (a semantic version such as 1.2.3)',
          );
        }
        return system.installPlugin(pluginId, version, {
          ...rest,
          userId: actor,
        });
      },
    );
    res.status(202).json(accepted);
  });

  const commands = {
    start: (id: string, o: { userId?: string; reason?: string }) =>
      system.startPlugin(id, o),
    stop: (id: string, o: { userId?: string; reason?: string }) =>
      system.stopPlugin(id, o),
    restart: (id: string, o: { userId?: string; reason?: string }) =>
      system.restartPlugin(id, o),
    uninstall: (id: string, o: { userId?: string; reason?: string }) =>
      system.uninstallPlugin(id, o),
  };
  for (const [command, run] of Object.entries(commands)) {
    router.post(`/plugins/:pluginId/${command}`, async (req, res) => {
      const { pluginId } = req.params;
      const accepted = await audited(
        req,
        `plugin-${command}`,
        { pluginId },
        actor => {
          const body = parse(
            actionRequestSchema,
            req.body,
            `${command} request`,
          );
          return run(pluginId, { userId: actor, reason: body.reason });
        },
      );
      res.status(202).json(accepted);
    });
  }

  router.get('/operations/:operationId', async (req, res) => {
    await authorize(req, pluginLifecycleReadPermission);
    res.json(await system.getOperation(req.params.operationId));
  });

  router.get('/metrics/system', async (req, res) => {
    await authorize(req, pluginLifecycleReadPermission);
    res.json(await system.getSystemMetrics());
  });

  return router;
}
