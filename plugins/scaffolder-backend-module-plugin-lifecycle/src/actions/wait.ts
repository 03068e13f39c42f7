import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import { InputError } from '@backstage/errors';
import {
  LIFECYCLE_STATES,
  TERMINAL_DEPLOYMENT_PHASES,
} from '@internal/plugin-lifecycle-common';
import {
  PluginLifecycleClientFor,
  WaitError,
  pollUntil,
  seconds,
  waitForOperation,
  stepClient,
} from './client';

const examples = [
  {
    description: "Wait for an update's deployment to succeed",
    example: `steps:
  - id: outcome
    action: plugin-lifecycle:wait
    input:
      deploymentId: \${{ steps.update.output.deploymentId }}
      timeoutSeconds: 1800`,
  },
  {
    description: 'Wait until a plugin runs',
    example: `steps:
  - id: running
    action: plugin-lifecycle:wait
    input:
      pluginId: sample-http-service
      state: running
      timeoutSeconds: 300`,
  },
  {
    description: 'Wait for any operation to end',
    example: `steps:
  - id: done
    action: plugin-lifecycle:wait
    input:
      operationId: \${{ steps.install.output.operationId }}`,
  },
];

/**
 * `plugin-lifecycle:wait`: waits until a plugin is in one of the given
 * states, an operation has ended, or a deployment has its outcome, for at
 * most `timeoutSeconds`. The step fails with a message that says what went
 * wrong: a failed or cancelled operation (its error), a deployment that
 * failed, rolled back or was aborted (its phase and reason), a plugin in
 * `error` while waiting for another state, the timeout, or the task being
 * cancelled.
 *
 * @public
 */
export function createWaitAction(options: {
  client: PluginLifecycleClientFor;
  pollIntervalMs?: number;
}) {
  const { client: clientFor } = options;
  return createTemplateAction({
    id: 'plugin-lifecycle:wait',
    description:
      "Waits for a managed plugin's state, an operation's end or a deployment's outcome, with a timeout",
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        pluginId: z =>
          z
            .string()
            .optional()
            .describe('The plugin whose state to wait for (with state)'),
        state: z =>
          z
            .union([
              z.enum(LIFECYCLE_STATES as [string, ...string[]]),
              z.array(z.enum(LIFECYCLE_STATES as [string, ...string[]])).min(1),
            ])
            .optional()
            .describe('The state, or any of the states, to wait for'),
        operationId: z =>
          z.string().optional().describe('The operation to wait for'),
        deploymentId: z =>
          z
            .string()
            .optional()
            .describe('The deployment whose outcome to wait for'),
        timeoutSeconds: z =>
          z
            .number()
            .positive()
            .optional()
            .describe('How long to wait (default 600)'),
        pollIntervalSeconds: z =>
          z
            .number()
            .positive()
            .optional()
            .describe('How often to look (default 2)'),
      },
      output: {
        state: z =>
          z.string().optional().describe("The plugin's state at the end"),
        status: z => z.string().optional().describe("The operation's status"),
        phase: z => z.string().optional().describe("The deployment's phase"),
      },
    },
    async handler(ctx) {
      const { pluginId, state, operationId, deploymentId } = ctx.input;
      const targets = [state !== undefined, !!operationId, !!deploymentId];
      if (targets.filter(Boolean).length !== 1) {
        throw new InputError(
          'plugin-lifecycle:wait needs exactly one of state (with pluginId), operationId or deploymentId',
        );
      }
      if (state !== undefined && !pluginId) {
        throw new InputError('plugin-lifecycle:wait: state needs a pluginId');
      }
      const client = await stepClient(clientFor, ctx);
      const timeoutMs = seconds(ctx.input.timeoutSeconds, 600);
      const intervalMs =
        options.pollIntervalMs ?? seconds(ctx.input.pollIntervalSeconds, 2);
      const common = { timeoutMs, intervalMs, signal: ctx.signal };

      if (operationId) {
        const op = await client.getOperation(operationId);
        if (ctx.isDryRun) {
          ctx.logger.info(
            `Dry run: would wait for operation ${operationId} (${op.type} of ${op.pluginId}, ${op.status})`,
          );
          ctx.output('status', op.status);
          return;
        }
        const done = await waitForOperation(client, operationId, {
          ...common,
          label: `${op.type} of ${op.pluginId}`,
        });
        ctx.output('status', done.status);
        return;
      }

      if (deploymentId) {
        const first = await client.getDeployment(deploymentId);
        const what = `deployment ${deploymentId} (${first.pluginId} to ${first.toVersion})`;
        if (ctx.isDryRun) {
          ctx.logger.info(
            `Dry run: would wait for ${what}, now ${first.phase}`,
          );
          ctx.output('phase', first.phase);
          return;
        }
        const deployment = await pollUntil({
          ...common,
          what,
          check: async () => {
            const d = await client.getDeployment(deploymentId);
            return TERMINAL_DEPLOYMENT_PHASES.includes(d.phase) ? d : undefined;
          },
        });
        ctx.output('phase', deployment.phase);
        if (deployment.phase !== 'succeeded') {
          throw new WaitError(
            `${what} ${deployment.phase}${
              deployment.message ? `: ${deployment.message}` : ''
            }`,
          );
        }
        ctx.logger.info(`${what} succeeded`);
        return;
      }

      const wanted = new Set<string>(Array.isArray(state) ? state : [state!]);
      const plugin = await client.getPlugin(pluginId!);
      if (ctx.isDryRun) {
        ctx.logger.info(
          `Dry run: would wait for ${pluginId} to be ${[...wanted].join(
            ' or ',
          )}; it is ${plugin.state}`,
        );
        ctx.output('state', plugin.state);
        return;
      }
      const reached = await pollUntil({
        ...common,
        what: `${pluginId} to be ${[...wanted].join(' or ')}`,
        check: async () => {
          const p = await client.getPlugin(pluginId!);
          if (wanted.has(p.state)) return p;
          if (p.state === 'error') {
            throw new WaitError(
              `${pluginId} is in error while waiting for ${[...wanted].join(
                ' or ',
              )}${p.lastError ? `: ${p.lastError}` : ''}`,
            );
          }
          return undefined;
        },
      });
      ctx.output('state', reached.state);
    },
  });
}
