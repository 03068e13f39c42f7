import { InputError } from '@backstage/errors';
import { pluginRoutes as routes } from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import { deployOn } from '../operationAccess';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';
import { objectBody, withIdempotencyKey } from './requestBody';

/**
 * The lifecycle's commands on one plugin, each queued as an operation
 * (202): install, update, roll an update back, start, stop, restart,
 * uninstall, maintenance on and off, configure. The facade validates the requests; these check permissions,
 * audit, and refuse a body that is not an object.
 */
export function bindLifecycleEndpoints(
  router: Router,
  context: EndpointContext,
) {
  const { system, audited } = context;

  // install and update: a version and the rest of the request
  for (const [action, route] of [
    ['install', routes.installPlugin],
    ['update', routes.updatePlugin],
  ] as const) {
    mount(router, route, async (req, res) => {
      const { pluginId } = req.params;
      const accepted = await audited(
        req,
        action === 'install'
          ? await deployOn(system, pluginId, req.body)
          : { permission: route.permission, resourceRef: pluginId },
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
  mount(router, routes.rollbackUpdate, async (req, res) => {
    const { pluginId, operationId } = req.params;
    const accepted = await audited(
      req,
      { permission: routes.rollbackUpdate.permission, resourceRef: pluginId },
      'plugin-update-rollback',
      { pluginId, operationId },
      ({ actor, scope }) => {
        const body = objectBody(
          routes.rollbackUpdate.body,
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
  });

  const commands = [
    ['start', routes.startPlugin, system.startPlugin],
    ['stop', routes.stopPlugin, system.stopPlugin],
    ['restart', routes.restartPlugin, system.restartPlugin],
    ['uninstall', routes.uninstallPlugin, system.uninstallPlugin],
    ['maintenance-on', routes.enterMaintenance, system.enterMaintenance],
    ['maintenance-off', routes.exitMaintenance, system.exitMaintenance],
    ['configure', routes.configurePlugin, system.configurePlugin],
  ] as const;
  for (const [command, route, run] of commands) {
    mount(router, route, async (req, res) => {
      const { pluginId } = req.params;
      const accepted = await audited(
        req,
        { permission: route.permission, resourceRef: pluginId },
        `plugin-${command}`,
        { pluginId },
        ({ actor, scope }) => {
          const body = objectBody(
            route.body,
            withIdempotencyKey(req, req.body ?? {}),
            `${command} request`,
          );
          return run.call(system, pluginId, { ...body, userId: actor, scope });
        },
      );
      res.status(202).json(accepted);
    });
  }
}
