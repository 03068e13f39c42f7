import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import { ConflictError } from '@backstage/errors';
import { canPerformAction } from '@internal/plugin-lifecycle-common';
import {
  DRY_RUN_ID,
  PluginLifecycleClientFor,
  seconds,
  waitForOperation,
  stepClient,
} from './client';

const examples = [
  {
    description: 'Remove a plugin, stopping it first if it runs (the default)',
    example: `steps:
  - id: uninstall
    action: plugin-lifecycle:uninstall
    name: Uninstall the plugin
    input:
      pluginId: sample-http-service`,
  },
  {
    description:
      'Remove a plugin only if it is already stopped; stop the plugins that depend on it first',
    example: `steps:
  - id: uninstall
    action: plugin-lifecycle:uninstall
    input:
      pluginId: sample-http-service
      stop: false
      cascade: true`,
  },
];

/**
 * `plugin-lifecycle:uninstall`: removes every installed version of a
 * managed plugin (it ends `inactive`, its configuration kept), stopping it
 * first when it runs (unless `stop: false`), and waits for it.
 *
 * @public
 */
export function createUninstallAction(options: {
  client: PluginLifecycleClientFor;
  pollIntervalMs?: number;
}) {
  const { client: clientFor, pollIntervalMs = 1000 } = options;
  return createTemplateAction({
    id: 'plugin-lifecycle:uninstall',
    description:
      'Uninstalls a managed plugin (every installed version), stopping it first when it runs',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        pluginId: z => z.string().describe('The plugin id (a lowercase slug)'),
        stop: z =>
          z
            .boolean()
            .optional()
            .describe('Stop a running plugin first (default true)'),
        cascade: z =>
          z
            .boolean()
            .optional()
            .describe('Stop the running plugins that depend on it first'),
        reason: z =>
          z.string().optional().describe('Why (shown in the history)'),
        timeoutSeconds: z =>
          z
            .number()
            .positive()
            .optional()
            .describe('How long to wait (default 600)'),
      },
      output: {
        operationId: z => z.string().describe('The uninstall operation'),
        removedVersions: z =>
          z.array(z.string()).describe('The versions removed'),
      },
    },
    async handler(ctx) {
      const { pluginId, reason, cascade } = ctx.input;
      const client = await stepClient(clientFor, ctx);
      const plugin = await client.getPlugin(pluginId);
      const mustStop =
        ctx.input.stop !== false &&
        !canPerformAction(plugin.state, 'uninstall') &&
        canPerformAction(plugin.state, 'stop');
      if (ctx.isDryRun) {
        ctx.logger.info(
          `Dry run: would ${
            mustStop ? 'stop, then ' : ''
          }uninstall ${pluginId} (${plugin.state}; versions ${
            plugin.versions.map(v => v.version).join(', ') || 'none'
          })`,
        );
        ctx.output('operationId', DRY_RUN_ID);
        ctx.output(
          'removedVersions',
          plugin.versions.map(v => v.version),
        );
        return;
      }
      const wait = {
        timeoutMs: seconds(ctx.input.timeoutSeconds, 600),
        intervalMs: pollIntervalMs,
        signal: ctx.signal,
      };
      if (mustStop) {
        const stop = await client.runCommand(pluginId, 'stop', { reason });
        ctx.logger.info(`Stopping ${pluginId}: operation ${stop.operationId}`);
        await waitForOperation(client, stop.operationId, {
          ...wait,
          label: `Stopping ${pluginId}`,
        });
      } else if (
        !canPerformAction(plugin.state, 'uninstall') &&
        ctx.input.stop === false
      ) {
        throw new ConflictError(
          `${pluginId} is ${plugin.state}: stop it first, or leave stop unset`,
        );
      }
      const accepted = await client.runCommand(pluginId, 'uninstall', {
        reason,
        cascade,
      });
      ctx.logger.info(
        `Uninstalling ${pluginId}: operation ${accepted.operationId}`,
      );
      const operation = await waitForOperation(client, accepted.operationId, {
        ...wait,
        label: `Uninstalling ${pluginId}`,
      });
      ctx.output('operationId', accepted.operationId);
      const removed = operation.result?.removedVersions;
      ctx.output(
        'removedVersions',
        Array.isArray(removed) ? removed.map(String) : [],
      );
    },
  });
}
