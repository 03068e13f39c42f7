import { InputError, NotAllowedError } from '@backstage/errors';
import {
  configRoutes as routes,
  pluginLifecycleConfigRevealPermission,
} from '@internal/plugin-lifecycle-common';
import { Request, Response, Router } from 'express';
import { LayerChange } from '../../engines/configuration/ConfigurationManager';
import { writeAuditSummary } from '../auditSummaries';
import { parseInput } from '../routeAccess';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';

function parseWrite(mode: LayerChange['mode'], raw: unknown) {
  if (mode === 'replace') {
    const body = parseInput(routes.setConfiguration.body, raw, 'configuration');
    return { body, change: { mode, entries: body.entries } as LayerChange };
  }
  const body = parseInput(routes.patchConfiguration.body, raw, 'configuration');
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
 * diff and rollback. Secrets are masked unless the caller asks for
 * `reveal=true` and holds `plugin-lifecycle.config.reveal`.
 */
export function bindConfigEndpoints(router: Router, context: EndpointContext) {
  const { system, authorize, authorizeList, audited } = context;
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

  mount(router, routes.getConfigEnvironments, async (req, res) => {
    // Not a plugin's data: reading some plugins is enough.
    await authorizeList(req, routes.getConfigEnvironments.permission);
    res.json({
      environments: manager().environments,
      defaultEnvironment: manager().defaultEnvironment,
    });
  });

  mount(router, routes.getConfiguration, async (req, res) => {
    const { pluginId, environment } = req.params;
    const { scope } = await authorize(
      req,
      routes.getConfiguration.permission,
      pluginId,
    );
    const query = parseInput(routes.getConfiguration.query, req.query, 'query');
    const reveal = await mayReveal(req, pluginId, query.reveal);
    res.json(
      await manager().getEffectiveConfiguration(pluginId, environment, {
        scope,
        reveal,
        at: query.at,
      }),
    );
  });

  /**
   * PUT replaces a layer, PATCH merges keys into it. 201 with the new
   * version; 200 with the latest version when the write changes nothing
   * (`changed: false`: no version, no operation); 200 with a preview for
   * `dryRun: true`, which stores nothing.
   */
  const write =
    (mode: LayerChange['mode']) => async (req: Request, res: Response) => {
      // The path's second name is a layer here: `base` or an environment.
      const { pluginId, environment: layer } = req.params;
      const written = await audited(
        req,
        {
          permission: routes.setConfiguration.permission,
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

  mount(router, routes.setConfiguration, write('replace'));
  mount(router, routes.patchConfiguration, write('merge'));

  async function changes(pluginId: string, layer: string, version: number) {
    // For the audit record: which keys changed (auditSummaries keeps no values).
    if (version < 2) return undefined;
    return manager()
      .diffVersions(pluginId, layer, version - 1, version)
      .catch(() => undefined);
  }

  mount(router, routes.listConfigVersions, async (req, res) => {
    const { pluginId, layer } = req.params;
    const { scope } = await authorize(
      req,
      routes.listConfigVersions.permission,
      pluginId,
    );
    res.json({
      items: await manager().listVersions(pluginId, layer, { scope }),
    });
  });

  mount(router, routes.getConfigVersion, async (req, res) => {
    const { pluginId, layer } = req.params;
    const { scope } = await authorize(
      req,
      routes.getConfigVersion.permission,
      pluginId,
    );
    const query = parseInput(routes.getConfigVersion.query, req.query, 'query');
    const reveal = await mayReveal(req, pluginId, query.reveal);
    res.json(
      await manager().getVersion(
        pluginId,
        layer,
        versionParam(req.params.version),
        { scope, reveal },
      ),
    );
  });

  mount(router, routes.diffConfigVersions, async (req, res) => {
    const { pluginId, layer } = req.params;
    const { scope } = await authorize(
      req,
      routes.diffConfigVersions.permission,
      pluginId,
    );
    const query = parseInput(
      routes.diffConfigVersions.query,
      req.query,
      'query',
    );
    res.json(
      await manager().diffVersions(pluginId, layer, query.from, query.to, {
        scope,
      }),
    );
  });

  mount(router, routes.rollbackConfiguration, async (req, res) => {
    const { pluginId, layer } = req.params;
    const result = await audited(
      req,
      {
        permission: routes.rollbackConfiguration.permission,
        resourceRef: pluginId,
      },
      'config-rollback',
      { pluginId, layer },
      async ({ actor, scope }) => {
        const body = parseInput(
          routes.rollbackConfiguration.body,
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
    // Like any write: 201 when it made a version, 200 when it changed nothing.
    res.status(result.changed ? 201 : 200).json(result);
  });
}
