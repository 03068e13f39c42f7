import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import {
  DEPLOYMENT_STRATEGIES,
  canPerformAction,
  updateRequestSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { InputError } from '@backstage/errors';
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
      'Roll a plugin out to 1.1.0 with the default strategy (rolling)',
    example: `steps:
  - id: update
    action: plugin-lifecycle:update
    name: Update the plugin
    input:
      pluginId: sample-http-service
      version: 1.1.0`,
  },
  {
    description:
      'A canary at 20% analysed for a minute, then follow it to its outcome',
    example: `steps:
  - id: update
    action: plugin-lifecycle:update
    name: Canary 2.0.0
    input:
      pluginId: sample-http-service
      version: 2.0.0
      strategy: canary
      deploymentConfig:
        canary:
          steps:
            - weight: 20
              pauseMs: 60000
  - id: outcome
    action: plugin-lifecycle:wait
    name: Wait for the rollout
    input:
      deploymentId: \${{ steps.update.output.deploymentId }}
      timeoutSeconds: 1800`,
  },
];

/**
 * `plugin-lifecycle:update`: moves a managed plugin to another version with
 * a deployment strategy. The step waits for the update operation (which
 * hands a running plugin's instances to a deployment and ends); the
 * deployment's outcome is `plugin-lifecycle:wait`'s with the `deploymentId`
 * output.
 *
 * @public
 */
export function createUpdateAction(options: {
  client: PluginLifecycleClientFor;
  pollIntervalMs?: number;
}) {
  const { client: clientFor, pollIntervalMs = 1000 } = options;
  return createTemplateAction({
    id: 'plugin-lifecycle:update',
    description:
      'Moves a managed plugin to another version with a deployment strategy (rolling, canary, blue-green, a-b-testing, recreate)',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        pluginId: z => z.string().describe('The plugin id (a lowercase slug)'),
        version: z =>
          z.string().describe('The version to move to, such as 1.1.0'),
        strategy: z =>
          z
            .enum(DEPLOYMENT_STRATEGIES as [string, ...string[]])
            .optional()
            .describe(
              `How the instances move: ${DEPLOYMENT_STRATEGIES.join(
                ', ',
              )} (default rolling)`,
            ),
        deploymentConfig: z =>
          z
            .record(z.unknown())
            .optional()
            .describe(
              "The strategy's settings (canary, rolling, blueGreen, abTesting, analysis, approvals) as in POST /plugins/{id}/update",
            ),
        environment: z =>
          z
            .string()
            .optional()
            .describe(
              'The configuration environment the new version runs with (default: the plugin’s)',
            ),
        reason: z =>
          z.string().optional().describe('Why (shown in the history)'),
        timeoutSeconds: z =>
          z
            .number()
            .positive()
            .optional()
            .describe(
              'How long to wait for the update operation (default 600)',
            ),
      },
      output: {
        operationId: z => z.string().describe('The update operation'),
        deploymentId: z =>
          z
            .string()
            .optional()
            .describe(
              'The deployment that rolls the version out (for plugin-lifecycle:wait)',
            ),
        fromVersion: z =>
          z.string().optional().describe('The version the plugin ran before'),
      },
    },
    async handler(ctx) {
      const { pluginId, version, strategy, deploymentConfig, environment } =
        ctx.input;
      const request = {
        version,
        ...(strategy ? { deploymentStrategy: strategy } : {}),
        ...(deploymentConfig ? { deploymentConfig } : {}),
        ...(environment ? { environment } : {}),
        ...(ctx.input.reason ? { reason: ctx.input.reason } : {}),
      };
      // The backend's own schema, so a dry run refuses what a run would.
      const parsed = updateRequestSchema.safeParse(request);
      if (!parsed.success) {
        throw new InputError(
          `Invalid update of ${pluginId}: ${validationMessage(parsed.error)}`,
        );
      }
      const client = await stepClient(clientFor, ctx);
      const plugin = await client.getPlugin(pluginId);
      const label = `Updating ${pluginId} from ${
        plugin.currentVersion ?? 'nothing'
      } to ${version}`;
      if (ctx.isDryRun) {
        const possible = canPerformAction(plugin.state, 'update');
        ctx.logger.info(
          `Dry run: would update ${pluginId} (${plugin.state}, ${
            plugin.currentVersion ?? 'no version'
          }) to ${version} by ${strategy ?? 'rolling'}${
            possible
              ? ''
              : `; refused now: update is not possible from ${plugin.state}`
          }`,
        );
        ctx.output('operationId', DRY_RUN_ID);
        ctx.output('deploymentId', DRY_RUN_ID);
        if (plugin.currentVersion) {
          ctx.output('fromVersion', plugin.currentVersion);
        }
        return;
      }
      const accepted = await client.updatePlugin(pluginId, parsed.data);
      const { deploymentId } = accepted;
      ctx.logger.info(
        `${label}: operation ${accepted.operationId}${
          deploymentId ? `, deployment ${deploymentId}` : ''
        }`,
      );
      await waitForOperation(client, accepted.operationId, {
        label,
        timeoutMs: seconds(ctx.input.timeoutSeconds, 600),
        intervalMs: pollIntervalMs,
        signal: ctx.signal,
      });
      ctx.output('operationId', accepted.operationId);
      if (deploymentId) ctx.output('deploymentId', deploymentId);
      if (plugin.currentVersion) {
        ctx.output('fromVersion', plugin.currentVersion);
      }
    },
  });
}
