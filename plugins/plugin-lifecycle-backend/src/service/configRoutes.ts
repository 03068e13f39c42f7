import { InputError, NotAllowedError } from '@backstage/errors';
import {
  configDiffQuerySchema,
  configReadQuerySchema,
  configRollbackRequestSchema,
  configWatchQuerySchema,
  pluginLifecycleConfigRevealPermission,
  pluginLifecycleConfigurePermission,
  patchConfigurationRequestSchema,
  pluginLifecycleReadPermission,
  setConfigurationRequestSchema,
} from '@internal/plugin-lifecycle-common';
import { Request, Response, Router } from 'express';
import { LayerChange } from '../engines/configuration/ConfigurationManager';
import {
  exportConfiguration,
  importConfiguration,
} from '../engines/configuration/configBackup';
import { PluginLifecycleOrchestrationSystem } from '../system/PluginLifecycleOrchestrationSystem';
import { inTenantScope } from '../domain/tenancy';
import { exportAuditSummary, writeAuditSummary } from './auditSummaries';
import { HeldRequests } from './HeldRequests';
import { RouteAccess, parseInput } from './routeAccess';

/** What the configuration routes borrow from the main router. */
export interface ConfigRoutesContext extends RouteAccess {
  system: PluginLifecycleOrchestrationSystem;
  /** Aborted when the backend shuts down: long-polls answer and event streams end. */
  shutdown?: AbortSignal;
  /** Caps on long-polls and event streams; unlimited when not given. */
  heldRequests?: HeldRequests;
}

function parseWrite(mode: LayerChange['mode'], raw: unknown) {
  if (mode === 'replace') {
    const body = parseInput(
      setConfigurationRequestSchema,
      raw,
      'configuration',
    );
    return { body, change: { mode, entries: body.entries } as LayerChange };
  }
  const body = parseInput(
    patchConfigurationRequestSchema,
    raw,
    'configuration',
  );
  return {
    body,
    change: { mode, entries: body.entries, remove: body.remove } as LayerChange,
  };
}

function versionParam(raw: string): number {
  // Decimal digits only: Number() would read 0x1 or 1e3 as versions.
  const version = /^\d{1,15}$/.test(raw) ? Number(raw) : 0;
  if (version < 1) {
    throw new InputError(
      `Invalid version '${raw.slice(
        0,
        64,
      )}': a positive whole number in decimal digits`,
    );
  }
  return version;
}

/**
 * The configuration manager's routes: effective configuration with
 * provenance, writes (PUT replaces a layer, PATCH merges keys), versions,
 * diff, rollback, watch (long-poll or server-sent
 * events), export and import. Secrets are masked unless the caller asks for
 * `reveal=true` and holds `plugin-lifecycle.config.reveal`.
 */
export function addConfigurationRoutes(
  router: Router,
  context: ConfigRoutesContext,
) {
  const { system, authorize, authorizeList, audited, shutdown, heldRequests } =
    context;
  const manager = () => system.getPluginConfigurationManager();

  const mayReveal = async (
    req: Request,
    pluginId: string,
    reveal?: boolean,
  ) => {
    if (!reveal) return false;
    await authorize(req, pluginLifecycleConfigRevealPermission, pluginId).catch(
      error => {
        throw error instanceof NotAllowedError
          ? new NotAllowedError(
              `Not allowed: ${pluginLifecycleConfigRevealPermission.name} (secret values stay masked without it)`,
            )
          : error;
      },
    );
    return true;
  };

  router.get('/config/environments', async (req, res) => {
    // Not a plugin's data: reading some plugins is enough.
    await authorizeList(req, pluginLifecycleReadPermission);
    res.json({
      environments: manager().environments,
      defaultEnvironment: manager().defaultEnvironment,
    });
  });

  router.get('/config/export', async (req, res) => {
    // Every plugin's configuration at once: configure on all of them.
    const configureAll = { permission: pluginLifecycleConfigurePermission };
    const doc = await audited(
      req,
      configureAll,
      'config-export',
      {},
      async ({ scope }) => {
        const ids = scope.all
          ? undefined
          : (await system.listPlugins({}, scope)).map(p => p.id);
        return exportConfiguration(manager(), ids);
      },
      exportAuditSummary,
    );
    res.json(doc);
  });

  router.post('/config/import', async (req, res) => {
    const result = await audited(
      req,
      { permission: pluginLifecycleConfigurePermission },
      'config-import',
      {},
      async ({ actor, scope }) =>
        importConfiguration(manager(), req.body, {
          userId: actor,
          findPlugin: async id => {
            const plugin = await system.findPluginRecord(id);
            return plugin && inTenantScope(scope, plugin.tenant)
              ? plugin
              : undefined;
          },
        }),
    );
    res.json(result);
  });

  router.get('/plugins/:pluginId/config/:environment', async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleReadPermission,
      req.params.pluginId,
    );
    const query = parseInput(configReadQuerySchema, req.query, 'query');
    const reveal = await mayReveal(req, req.params.pluginId, query.reveal);
    res.json(
      await manager().getEffectiveConfiguration(
        req.params.pluginId,
        req.params.environment,
        { scope, reveal, at: query.at },
      ),
    );
  });

  /**
   * PUT replaces a layer, PATCH merges keys into it. 201 with the new
   * version; 200 with the latest version when the write changes nothing
   * (`changed: false`: no version, no operation); 200 with a preview for
   * `dryRun: true`, which stores nothing.
   */
  const write =
    (mode: LayerChange['mode']) =>
    async (
      req: Request<{ pluginId: string; layer: string }>,
      res: Response,
    ) => {
      const { pluginId, layer } = req.params;
      const written = await audited(
        req,
        {
          permission: pluginLifecycleConfigurePermission,
          resourceRef: pluginId,
        },
        mode === 'replace' ? 'config-set' : 'config-patch',
        { pluginId, layer },
        async ({ actor, scope }) => {
          const { change, body } = parseWrite(mode, req.body);
          const options = {
            environment: layer,
            userId: actor,
            description: body.description,
            expectedVersion: body.expectedVersion,
            scope,
          };
          if (body.dryRun) {
            return manager().previewPluginConfiguration(
              pluginId,
              change,
              options,
            );
          }
          const result =
            change.mode === 'replace'
              ? await manager().replacePluginConfiguration(
                  pluginId,
                  change.entries,
                  options,
                )
              : await manager().setPluginConfiguration(
                  pluginId,
                  change.entries,
                  { ...options, remove: change.remove },
                );
          return {
            ...result,
            changes: result.changed
              ? await changes(pluginId, layer, result.version.version)
              : undefined,
          };
        },
        writeAuditSummary,
      );
      if ('dryRun' in written) {
        res.status(200).json(written);
        return;
      }
      const { changes: _c, ...result } = written;
      res.status(result.changed ? 201 : 200).json(result);
    };

  router.put('/plugins/:pluginId/config/:layer', write('replace'));
  router.patch('/plugins/:pluginId/config/:layer', write('merge'));

  async function changes(pluginId: string, layer: string, version: number) {
    // For the audit record: which keys changed (auditSummaries keeps no values).
    if (version < 2) return undefined;
    return manager()
      .diffVersions(pluginId, layer, version - 1, version)
      .catch(() => undefined);
  }

  router.get('/plugins/:pluginId/config/:layer/versions', async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleReadPermission,
      req.params.pluginId,
    );
    res.json({
      items: await manager().listVersions(
        req.params.pluginId,
        req.params.layer,
        { scope },
      ),
    });
  });

  router.get(
    '/plugins/:pluginId/config/:layer/versions/:version',
    async (req, res) => {
      const { scope } = await authorize(
        req,
        pluginLifecycleReadPermission,
        req.params.pluginId,
      );
      const query = parseInput(
        configReadQuerySchema.pick({ reveal: true }),
        req.query,
        'query',
      );
      const reveal = await mayReveal(req, req.params.pluginId, query.reveal);
      res.json(
        await manager().getVersion(
          req.params.pluginId,
          req.params.layer,
          versionParam(req.params.version),
          { scope, reveal },
        ),
      );
    },
  );

  router.get('/plugins/:pluginId/config/:layer/diff', async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleReadPermission,
      req.params.pluginId,
    );
    const query = parseInput(configDiffQuerySchema, req.query, 'query');
    res.json(
      await manager().diffVersions(
        req.params.pluginId,
        req.params.layer,
        query.from,
        query.to,
        { scope },
      ),
    );
  });

  router.post('/plugins/:pluginId/config/:layer/rollback', async (req, res) => {
    const { pluginId, layer } = req.params;
    const result = await audited(
      req,
      { permission: pluginLifecycleConfigurePermission, resourceRef: pluginId },
      'config-rollback',
      { pluginId, layer },
      async ({ actor, scope }) => {
        const body = parseInput(
          configRollbackRequestSchema,
          req.body,
          'rollback request',
        );
        return manager().rollback(pluginId, layer, body.toVersion, {
          userId: actor,
          description: body.description,
          expectedVersion: body.expectedVersion,
          scope,
        });
      },
      writeAuditSummary,
    );
    // Like any write that makes a version.
    res.status(201).json(result);
  });

  router.get(
    '/plugins/:pluginId/config/:environment/watch',
    async (req, res) => {
      const { pluginId, environment } = req.params;
      const { scope, actor } = await authorize(
        req,
        pluginLifecycleReadPermission,
        pluginId,
      );
      const query = parseInput(configWatchQuerySchema, req.query, 'query');
      // Over the cap: a 429 at once. Released when the answer or stream ends.
      const release = heldRequests?.acquire(actor ?? 'anonymous');
      if (release) res.on('close', release);
      if (
        req.accepts(['application/json', 'text/event-stream']) ===
        'text/event-stream'
      ) {
        // Resolves first, so an unknown plugin or environment is a plain 4xx.
        const current = await manager().getEffectiveConfiguration(
          pluginId,
          environment,
          { scope },
        );
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          // no-transform: the backend's compression middleware (and proxies)
          // would otherwise hold events back in a gzip buffer.
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
        });
        const send = (event: string, data: unknown) =>
          res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        send('configuration', current);
        const unwatch = manager().watchConfiguration(
          pluginId,
          environment,
          query.key,
          configuration => send('configuration', configuration),
        );
        const heartbeat = setInterval(
          () => res.write(': keep-alive\n\n'),
          15_000,
        );
        // A stream would hold the server open past any grace period: at
        // shutdown it ends, and the client reconnects (to another replica).
        const end = () => res.end();
        res.on('close', () => {
          clearInterval(heartbeat);
          unwatch();
          shutdown?.removeEventListener('abort', end);
        });
        if (shutdown?.aborted) end();
        else shutdown?.addEventListener('abort', end);
        return;
      }
      const abort = new AbortController();
      // The response's close, not the request's: a GET's request closes once read.
      res.on('close', () => abort.abort());
      // At shutdown a long-poll answers at once (`changed: false`), as at its timeout.
      const onShutdown = () => abort.abort();
      if (shutdown?.aborted) abort.abort();
      else shutdown?.addEventListener('abort', onShutdown);
      res.on('close', () => shutdown?.removeEventListener('abort', onShutdown));
      res.json(
        await manager().waitForChange(pluginId, environment, {
          scope,
          afterRevision: query.afterRevision,
          afterVersion: query.afterVersion,
          key: query.key,
          timeoutMs: query.timeoutMs,
          signal: abort.signal,
        }),
      );
    },
  );
}
