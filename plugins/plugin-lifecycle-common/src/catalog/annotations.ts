import { z } from 'zod';
import {
  DeploymentConfig,
  DeploymentStrategy,
  deploymentConfigSchema,
  deploymentStrategySchema,
} from '../api/deployments';
import { versionSchema } from '../api/schemas';

/**
 * The annotation that links a catalog entity to a managed plugin.
 *
 * @public
 */
export const PLUGIN_ID_ANNOTATION = 'plugin-lifecycle.backstage.io/plugin-id';

/**
 * The exact version a catalog entity declares for its managed plugin
 * (`1.4.2`; no ranges). Acted on only for plugins the operator opted into
 * catalog sync (`pluginLifecycle.catalogSync`).
 *
 * @public
 */
export const PLUGIN_VERSION_ANNOTATION =
  'plugin-lifecycle.backstage.io/version';

/**
 * How the declared version is rolled out: a {@link DeploymentStrategy}
 * value (`canary`, `blue-green`, `rolling`, `a-b-testing`, `recreate`, or
 * the key name, `BLUE_GREEN`). Default `rolling`.
 *
 * @public
 */
export const PLUGIN_STRATEGY_ANNOTATION =
  'plugin-lifecycle.backstage.io/strategy';

/**
 * The deployment's settings as a JSON object, the `deploymentConfig` of
 * `POST /plugins/{id}/update` (`{"canary": {"steps": [...]}}`), validated
 * with the same schema.
 *
 * @public
 */
export const PLUGIN_STRATEGY_CONFIG_ANNOTATION =
  'plugin-lifecycle.backstage.io/strategy-config';

/**
 * Every annotation of plugin-lifecycle on catalog entities.
 *
 * @public
 */
export const PLUGIN_LIFECYCLE_ANNOTATIONS = {
  pluginId: PLUGIN_ID_ANNOTATION,
  version: PLUGIN_VERSION_ANNOTATION,
  strategy: PLUGIN_STRATEGY_ANNOTATION,
  strategyConfig: PLUGIN_STRATEGY_CONFIG_ANNOTATION,
} as const;

/**
 * What a catalog entity declares for its managed plugin: the version it
 * wants and how to roll it out.
 *
 * @public
 */
export interface DeclaredPluginState {
  pluginId: string;
  version: string;
  strategy: DeploymentStrategy;
  config: DeploymentConfig;
}

/**
 * The result of reading an entity's annotations: nothing declared (no
 * plugin id or no version annotation), a declaration, or why the
 * annotations are not one.
 *
 * @public
 */
export type DeclaredPluginStateResult =
  | { kind: 'none' }
  | { kind: 'declared'; state: DeclaredPluginState }
  | { kind: 'invalid'; pluginId?: string; message: string };

const declarationSchema = z.object({
  pluginId: z.string().trim().min(1, 'must not be empty'),
  version: z.string().trim().pipe(versionSchema),
  strategy: deploymentStrategySchema.default('rolling'),
  config: deploymentConfigSchema.default({}),
});

/**
 * Reads the declared version and rollout of a managed plugin from an
 * entity's `metadata.annotations`, validated as the update request is.
 * The strategy-config annotation must be a JSON object; the a-b-testing
 * strategy needs its `abTesting` settings there.
 *
 * @public
 */
export function readDeclaredPluginState(
  annotations: Record<string, string> | undefined,
): DeclaredPluginStateResult {
  const pluginId = annotations?.[PLUGIN_ID_ANNOTATION];
  const version = annotations?.[PLUGIN_VERSION_ANNOTATION];
  if (pluginId === undefined || version === undefined) return { kind: 'none' };
  let config: unknown;
  const rawConfig = annotations?.[PLUGIN_STRATEGY_CONFIG_ANNOTATION];
  if (rawConfig !== undefined) {
    try {
      config = JSON.parse(rawConfig);
    } catch (error) {
      return {
        kind: 'invalid',
        pluginId,
        message: `${PLUGIN_STRATEGY_CONFIG_ANNOTATION}: not JSON (${
          (error as Error).message
        })`,
      };
    }
  }
  const parsed = declarationSchema.safeParse({
    pluginId,
    version,
    strategy: annotations?.[PLUGIN_STRATEGY_ANNOTATION]?.trim() || undefined,
    config,
  });
  if (!parsed.success) {
    const names: Record<string, string> = {
      pluginId: PLUGIN_ID_ANNOTATION,
      version: PLUGIN_VERSION_ANNOTATION,
      strategy: PLUGIN_STRATEGY_ANNOTATION,
      config: PLUGIN_STRATEGY_CONFIG_ANNOTATION,
    };
    // Each problem named by the annotation it is in, not the field here.
    const message = parsed.error.issues
      .map(issue => {
        const [field, ...rest] = issue.path.map(String);
        const where = [names[field] ?? field, ...rest].join('.');
        return `${where}: ${issue.message}`;
      })
      .join('; ');
    return { kind: 'invalid', pluginId, message };
  }
  const state = parsed.data;
  if (state.strategy === 'a-b-testing' && !state.config.abTesting) {
    return {
      kind: 'invalid',
      pluginId,
      message: `${PLUGIN_STRATEGY_CONFIG_ANNOTATION}.abTesting: required for the a-b-testing strategy (match or percentage, and duration)`,
    };
  }
  return { kind: 'declared', state };
}
