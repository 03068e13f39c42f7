import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import { canPerformAction } from '@internal/plugin-lifecycle-common';
import { PluginLifecycleService } from '@internal/plugin-lifecycle-node';
import { DRY_RUN_ID } from './client';

const examples = [
  {
    description: 'Install 1.0.0 of a plugin and start two instances',
    example: `steps:
  - id: install
    action: plugin-lifecycle:install
    name: Install the plugin
    input:
      pluginId: sample-http-service
      version: 1.0.0
      start: true
      replicas: 2`,
  },
];

/**
 * `plugin-lifecycle:install`: installs a version of a managed plugin (and
 * starts it if asked), waiting for the operation to finish so the template
 * step fails when the install fails.
 *
 * @public
 */
export function createInstallAction(options: {
  pluginLifecycle: PluginLifecycleService;
  pollIntervalMs?: number;
}) {
  const { pluginLifecycle, pollIntervalMs = 1000 } = options;
  return createTemplateAction({
    id: 'plugin-lifecycle:install',
    description:
      'Installs a version of a managed plugin, optionally starting it',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        pluginId: z => z.string().describe('The plugin id (a lowercase slug)'),
        version: z =>
          z.string().describe('The version to install, such as 1.0.0'),
        start: z =>
          z.boolean().optional().describe('Start the plugin once installed'),
        replicas: z =>
          z.number().int().min(1).optional().describe('Instances to run'),
        timeoutSeconds: z =>
          z
            .number()
            .int()
            .positive()
            .optional()
            .describe('How long to wait (default 600)'),
      },
      output: {
        operationId: z => z.string(),
        state: z => z.string(),
      },
    },
    async handler(ctx) {
      const credentials = await ctx.getInitiatorCredentials();
      const { pluginId, version, start, replicas } = ctx.input;
      if (ctx.isDryRun) {
        // A plugin never installed is not found: it would be created.
        const plugin = await pluginLifecycle
          .getPlugin(pluginId, { credentials })
          .catch(e => {
            if (e?.response?.status === 404 || e?.statusCode === 404) {
              return undefined;
            }
            throw e;
          });
        const state = plugin?.state ?? 'inactive';
        ctx.logger.info(
          `Dry run: would install ${pluginId}@${version}${
            start ? ' and start it' : ''
          } (${plugin ? state : 'never installed'})${
            canPerformAction(state, 'install')
              ? ''
              : `; refused now: install is not possible from ${state}`
          }`,
        );
        ctx.output('operationId', DRY_RUN_ID);
        ctx.output('state', start ? 'running' : 'installed');
        return;
      }
      const accepted = await pluginLifecycle.installPlugin(
        pluginId,
        { version, start, replicas },
        { credentials },
      );
      ctx.logger.info(
        `Queued install of ${pluginId}@${version} as operation ${accepted.operationId}`,
      );
      const deadline = Date.now() + (ctx.input.timeoutSeconds ?? 600) * 1000;
      for (;;) {
        const operation = await pluginLifecycle.getOperation(
          accepted.operationId,
          { credentials },
        );
        if (operation.status === 'succeeded') break;
        if (operation.status === 'failed' || operation.status === 'cancelled') {
          throw new Error(
            `Installing ${pluginId}@${version} ${operation.status}: ${operation.error}`,
          );
        }
        if (Date.now() > deadline || ctx.signal?.aborted) {
          throw new Error(
            `Installing ${pluginId}@${version} did not finish in time (operation ${accepted.operationId})`,
          );
        }
        await new Promise(r => setTimeout(r, pollIntervalMs));
      }
      const plugin = await pluginLifecycle.getPlugin(pluginId, { credentials });
      ctx.logger.info(
        `${pluginId} is ${plugin.state} at ${plugin.currentVersion}`,
      );
      ctx.output('operationId', accepted.operationId);
      ctx.output('state', plugin.state);
    },
  });
}
