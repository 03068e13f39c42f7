import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
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
    description:
      'Take a plugin out of rotation while a migration runs, then bring it back',
    example: `steps:
  - id: maintenance-on
    action: plugin-lifecycle:maintenance
    input:
      pluginId: sample-http-service
      enabled: true
      reason: database migration
  - id: migrate
    action: debug:log
    input:
      message: migrating
  - id: maintenance-off
    action: plugin-lifecycle:maintenance
    input:
      pluginId: sample-http-service
      enabled: false`,
  },
];

/**
 * `plugin-lifecycle:maintenance`: puts a managed plugin in maintenance (its
 * instances keep running but get no traffic, and no automation acts on it)
 * or ends it (running again, in rotation, when instances run; installed
 * otherwise), and waits for the operation.
 *
 * @public
 */
export function createMaintenanceAction(options: {
  client: PluginLifecycleClientFor;
  pollIntervalMs?: number;
}) {
  const { client: clientFor, pollIntervalMs = 1000 } = options;
  return createTemplateAction({
    id: 'plugin-lifecycle:maintenance',
    description:
      'Puts a managed plugin in maintenance (instances keep running out of rotation, automation suspended) or ends it',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        pluginId: z => z.string().describe('The plugin id (a lowercase slug)'),
        enabled: z =>
          z.boolean().describe('true: maintenance on; false: maintenance off'),
        reason: z =>
          z.string().optional().describe('Why (shown in the history)'),
        timeoutSeconds: z =>
          z
            .number()
            .positive()
            .optional()
            .describe('How long to wait (default 120)'),
      },
      output: {
        operationId: z => z.string(),
        state: z => z.string().describe('The state the plugin is in after'),
      },
    },
    async handler(ctx) {
      const { pluginId, enabled, reason } = ctx.input;
      const command = enabled ? 'maintenance-on' : 'maintenance-off';
      const client = await stepClient(clientFor, ctx);
      if (ctx.isDryRun) {
        const plugin = await client.getPlugin(pluginId);
        ctx.logger.info(
          `Dry run: would queue ${command} for ${pluginId} (${plugin.state})${
            canPerformAction(plugin.state, command)
              ? ''
              : `; refused now: ${command} is not possible from ${plugin.state}`
          }`,
        );
        ctx.output('operationId', DRY_RUN_ID);
        ctx.output('state', enabled ? 'maintenance' : plugin.state);
        return;
      }
      const accepted = await client.runCommand(pluginId, command, { reason });
      await waitForOperation(client, accepted.operationId, {
        label: `${command} of ${pluginId}`,
        timeoutMs: seconds(ctx.input.timeoutSeconds, 120),
        intervalMs: pollIntervalMs,
        signal: ctx.signal,
      });
      const plugin = await client.getPlugin(pluginId);
      ctx.logger.info(`${pluginId} is ${plugin.state}`);
      ctx.output('operationId', accepted.operationId);
      ctx.output('state', plugin.state);
    },
  });
}
