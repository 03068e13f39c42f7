import { configRoutes as routes } from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import { exportAuditSummary } from '../auditSummaries';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';

/**
 * Export and import of all configuration: configure on every plugin, the
 * export limited to the caller's tenants, the audit record without values.
 */
export function bindConfigBackupEndpoints(
  router: Router,
  context: EndpointContext,
) {
  const { system, audited } = context;

  mount(router, routes.exportConfiguration, async (req, res) => {
    // Every plugin's configuration at once: configure on all of them.
    const doc = await audited(
      req,
      { permission: routes.exportConfiguration.permission },
      'config-export',
      {},
      ({ scope }) => system.configBackupCommands.exportConfiguration(scope),
      exportAuditSummary,
    );
    res.json(doc);
  });

  mount(router, routes.importConfiguration, async (req, res) => {
    const result = await audited(
      req,
      { permission: routes.importConfiguration.permission },
      'config-import',
      {},
      // The export's own checks (format, signature, secrets) validate it.
      ({ actor, scope }) =>
        system.configBackupCommands.importConfiguration(req.body, {
          userId: actor,
          scope,
        }),
    );
    res.json(result);
  });
}
