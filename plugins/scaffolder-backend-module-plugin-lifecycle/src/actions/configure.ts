import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import { InputError } from '@backstage/errors';
import {
  ConfigurationEntry,
  canPerformAction,
  configurationEntrySchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
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
      'Set two keys of the production layer; a running plugin gets them (restarted or reloaded) before the step ends',
    example: `steps:
  - id: configure
    action: plugin-lifecycle:configure
    name: Configure the plugin
    input:
      pluginId: sample-http-service
      environment: production
      entries:
        - key: greeting
          value: hello
        - key: pool.size
          value: 10
      remove: [legacy.flag]`,
  },
  {
    description:
      'Re-apply the effective configuration (after maintenance, for instance): instances restart only if a value changed',
    example: `steps:
  - id: reapply
    action: plugin-lifecycle:configure
    name: Re-apply configuration
    input:
      pluginId: sample-http-service`,
  },
];

/** The entry type of a value, when the template gives none. */
function typeOf(value: unknown): ConfigurationEntry['type'] {
  switch (typeof value) {
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    default:
      return 'json';
  }
}

/**
 * `plugin-lifecycle:configure`: sets (and removes) keys of one
 * configuration layer of a managed plugin; a running plugin gets the change
 * through the `configure` operation the write queues, which the step waits
 * for. Without entries or removals, queues a `configure` that re-applies
 * the effective configuration.
 *
 * @public
 */
export function createConfigureAction(options: {
  client: PluginLifecycleClientFor;
  pollIntervalMs?: number;
}) {
  const { client: clientFor, pollIntervalMs = 1000 } = options;
  return createTemplateAction({
    id: 'plugin-lifecycle:configure',
    description:
      'Sets or removes configuration keys of a managed plugin (one layer), or re-applies its effective configuration; waits until running instances have it',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        pluginId: z => z.string().describe('The plugin id (a lowercase slug)'),
        environment: z =>
          z
            .string()
            .optional()
            .describe(
              'The layer to write: base (default) or an environment such as production',
            ),
        entries: z =>
          z
            .array(
              z.object({
                key: z.string().describe('The key, such as database.url'),
                value: z.unknown().describe('The value'),
                type: z
                  .enum(['string', 'number', 'boolean', 'json', 'secret'])
                  .optional()
                  .describe("The value's type (default: from the value)"),
                sensitive: z.boolean().optional(),
                required: z.boolean().optional(),
                description: z.string().optional(),
              }),
            )
            .optional()
            .describe('Keys to set (other keys of the layer stay)'),
        remove: z => z.array(z.string()).optional().describe('Keys to remove'),
        description: z =>
          z
            .string()
            .optional()
            .describe('What the change is for (kept with the version)'),
        wait: z =>
          z
            .boolean()
            .optional()
            .describe(
              'Wait for the running instances to get the change (default true)',
            ),
        timeoutSeconds: z =>
          z
            .number()
            .positive()
            .optional()
            .describe('How long to wait (default 600)'),
      },
      output: {
        configVersion: z =>
          z.number().optional().describe("The layer's version after the write"),
        changed: z =>
          z.boolean().describe('False when the layer already had the values'),
        operationId: z =>
          z
            .string()
            .optional()
            .describe('The configure operation that applied it, if any'),
      },
    },
    async handler(ctx) {
      const { pluginId, remove } = ctx.input;
      const layer = ctx.input.environment ?? 'base';
      const entries = (ctx.input.entries ?? []).map(e => ({
        ...e,
        type: e.type ?? typeOf(e.value),
      }));
      for (const [i, entry] of entries.entries()) {
        const parsed = configurationEntrySchema.safeParse(entry);
        if (!parsed.success) {
          throw new InputError(
            `Invalid entry ${i} (${
              entry.key
            }) of ${pluginId}: ${validationMessage(parsed.error)}`,
          );
        }
      }
      const client = await stepClient(clientFor, ctx);
      let operationId: string | undefined;
      if (entries.length === 0 && !remove?.length) {
        // Nothing to write: re-apply what is effective.
        if (ctx.isDryRun) {
          const plugin = await client.getPlugin(pluginId);
          ctx.logger.info(
            `Dry run: would re-apply the configuration of ${pluginId} (${
              plugin.state
            })${
              canPerformAction(plugin.state, 'configure')
                ? ''
                : `; refused now: configure is not possible from ${plugin.state}`
            }`,
          );
          ctx.output('changed', false);
          ctx.output('operationId', DRY_RUN_ID);
          return;
        }
        operationId = (
          await client.configurePlugin(pluginId, {
            reason: ctx.input.description,
          })
        ).operationId;
        ctx.logger.info(
          `Re-applying the configuration of ${pluginId}: operation ${operationId}`,
        );
        ctx.output('changed', false);
      } else {
        const request = {
          entries,
          ...(remove?.length ? { remove } : {}),
          ...(ctx.input.description
            ? { description: ctx.input.description }
            : {}),
        } as Parameters<typeof client.patchConfiguration>[2];
        if (ctx.isDryRun) {
          const preview = await client.previewConfiguration(
            pluginId,
            layer,
            'merge',
            request,
          );
          ctx.logger.info(
            `Dry run: ${
              preview.changed
                ? `would write version ${
                    preview.currentVersion + 1
                  } of ${pluginId}'s ${layer} layer`
                : `${pluginId}'s ${layer} layer already has these values`
            }`,
          );
          ctx.output('changed', preview.changed);
          ctx.output('configVersion', preview.currentVersion);
          return;
        }
        const written = await client.patchConfiguration(
          pluginId,
          layer,
          request,
        );
        ctx.logger.info(
          written.changed
            ? `Wrote version ${written.version.version} of ${pluginId}'s ${layer} layer`
            : `${pluginId}'s ${layer} layer already had these values`,
        );
        ctx.output('changed', written.changed);
        ctx.output('configVersion', written.version.version);
        operationId = written.operationId;
      }
      if (!operationId) return;
      ctx.output('operationId', operationId);
      if (ctx.input.wait === false) return;
      const operation = await waitForOperation(client, operationId, {
        label: `Configuring ${pluginId}`,
        timeoutMs: seconds(ctx.input.timeoutSeconds, 600),
        intervalMs: pollIntervalMs,
        signal: ctx.signal,
      });
      ctx.logger.info(
        `Configured ${pluginId}: ${JSON.stringify(operation.result ?? {})}`,
      );
    },
  });
}
