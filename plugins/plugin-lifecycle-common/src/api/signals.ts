/**
 * What the backend pushes to the UI through Backstage signals
 * (`@backstage/plugin-signals`) when something about a managed plugin changed.
 *
 * A signal says only *that* something changed and what it was: it carries
 * no data the receiver may not read. The UI reloads through the API, which
 * checks the user's permissions as for any other request.
 */

/**
 * The channel of one managed plugin's signals.
 *
 * @public
 */
export function pluginLifecycleSignalChannel(pluginId: string): string {
  return `plugin-lifecycle:${pluginId}`;
}

/**
 * The channel of every managed plugin's signals (the fleet page).
 *
 * @public
 */
export const PLUGIN_LIFECYCLE_FLEET_CHANNEL = 'plugin-lifecycle';

/**
 * The channel of the notices for one user about what they started (an
 * operation or a deployment that ended), sent to that user only.
 *
 * @public
 */
export const PLUGIN_LIFECYCLE_NOTICE_CHANNEL = 'plugin-lifecycle:notices';

/**
 * What changed.
 *
 * @public
 */
export type PluginLifecycleSignalKind =
  | 'state'
  | 'operation'
  | 'deployment'
  | 'health'
  | 'configuration'
  | 'instances';

/**
 * The message of a plugin's channel and of the fleet channel.
 *
 * @public
 */
export interface PluginLifecycleSignal {
  kind: PluginLifecycleSignalKind;
  pluginId: string;
  /** The operation or deployment it is about, where there is one. */
  operationId?: string;
  deploymentId?: string;
  /** ISO 8601, when the backend sent it. */
  at: string;
}

/**
 * The message of the notice channel: an operation or a deployment that the
 * receiving user started has ended.
 *
 * @public
 */
export interface PluginLifecycleNotice {
  kind: 'operation' | 'deployment';
  pluginId: string;
  operationId?: string;
  deploymentId?: string;
  /**
   * What it was: the operation's type (`install`, `start`, ...); `update`
   * for a deployment.
   */
  what: string;
  /** The version it installed or rolled out, where there is one. */
  version?: string;
  /** A deployment's strategy (`canary`, `rolling`, ...). */
  strategy?: string;
  /** How it ended: an operation's status or a deployment's phase. */
  outcome: string;
  /** Whether the outcome is what the user asked for. */
  ok: boolean;
  /** Why not, when `ok` is false. */
  message?: string;
  at: string;
}
