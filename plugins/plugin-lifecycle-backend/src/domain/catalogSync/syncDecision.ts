import {
  CatalogSyncStatus,
  DeclaredPluginState,
  DeclaredPluginStateResult,
  DeploymentPhase,
} from '@internal/plugin-lifecycle-common';

export type { CatalogSyncStatus };

/** What runs of one opted-in plugin, and what catalog sync did before. */
export interface CatalogSyncObservation {
  pluginId: string;
  /** Undefined: the plugin is not installed. */
  plugin?: { currentVersion?: string; entityRef?: string };
  /** What the plugin's linked entity declares (undefined: the entity is not in the catalog). */
  declaration?: DeclaredPluginStateResult;
  /** The plugin's active deployment, if it has one. */
  activeDeployment?: { id: string; toVersion: string };
  /** What catalog sync recorded: the declared state it acted on last. */
  record?: {
    /** {@link declarationFingerprint} of the declared state acted on. */
    actedOn?: string;
    /** The deployment started for it (none when it was found running). */
    deploymentId?: string;
  };
  /** That deployment as it is now. */
  lastDeployment?: {
    id: string;
    phase: DeploymentPhase;
    toVersion: string;
    message?: string;
  };
}

/** What to do about one plugin. */
export type CatalogSyncDecision =
  | {
      action: 'deploy';
      state: DeclaredPluginState;
      fingerprint: string;
      fromVersion: string;
    }
  | {
      action: 'none';
      status: Exclude<CatalogSyncStatus, 'deployment-started' | 'error'>;
      reason: string;
      /** Record this fingerprint as acted on (the plugin runs it). */
      acknowledge?: string;
    };

/**
 * A stable key of a declared state: version, strategy and settings (with
 * sorted keys). A new key is a new declaration, which catalog sync acts on
 * once; the declaring entity is not part of it.
 */
export function declarationFingerprint(state: DeclaredPluginState): string {
  return canonicalJson({
    version: state.version,
    strategy: state.strategy,
    config: state.config,
  });
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)); // keys are unique
    return `{${entries
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const ENDED_UNSUCCESSFULLY: readonly DeploymentPhase[] = [
  'rolled-back',
  'aborted',
  'failed',
];

/**
 * Decides what catalog sync does about one opted-in plugin. The rule, as
 * automated sync without self-heal in GitOps tools: each declared state
 * (version, strategy and settings) is acted on at most once. When the
 * plugin runs it, or a deployment to it was started, it is recorded; if the
 * plugin leaves it later (analysis or a person rolled it back, someone
 * aborted it or updated the plugin by hand), catalog sync leaves the plugin
 * alone until the annotations declare another state. It never starts a
 * deployment while one is active.
 */
export function decideCatalogSync(
  o: CatalogSyncObservation,
): CatalogSyncDecision {
  const none = (
    status: Exclude<CatalogSyncStatus, 'deployment-started' | 'error'>,
    reason: string,
    acknowledge?: string,
  ): CatalogSyncDecision => ({
    action: 'none',
    status,
    reason,
    ...(acknowledge ? { acknowledge } : {}),
  });
  if (!o.plugin?.currentVersion) {
    return none(
      'not-installed',
      `plugin '${o.pluginId}' is not installed; catalog sync updates installed plugins only (install it with its entityRef)`,
    );
  }
  const { currentVersion, entityRef } = o.plugin;
  if (!entityRef) {
    return none(
      'no-linked-entity',
      `plugin '${o.pluginId}' has no linked catalog entity (its entityRef); only that entity may declare its version`,
    );
  }
  const declaration = o.declaration;
  if (!declaration) {
    return none(
      'no-declaration',
      `the linked entity ${entityRef} is not in the catalog`,
    );
  }
  if (declaration.kind === 'none') {
    return none(
      'no-declaration',
      `the linked entity ${entityRef} declares no version`,
    );
  }
  if (declaration.kind === 'invalid') {
    return none(
      'invalid',
      `the annotations of ${entityRef} are invalid: ${declaration.message}`,
    );
  }
  const state = declaration.state;
  if (state.pluginId !== o.pluginId) {
    return none(
      'no-declaration',
      `the linked entity ${entityRef} declares a version for plugin '${state.pluginId}', not '${o.pluginId}'`,
    );
  }
  const fingerprint = declarationFingerprint(state);
  if (currentVersion === state.version) {
    return none(
      'in-sync',
      `runs the declared version ${state.version}`,
      fingerprint,
    );
  }
  if (o.activeDeployment) {
    const ours =
      o.record?.deploymentId === o.activeDeployment.id &&
      o.record.actedOn === fingerprint;
    return ours
      ? none(
          'deploying',
          `deployment ${o.activeDeployment.id} to ${state.version} is under way`,
        )
      : none(
          'deployment-active',
          `deployment ${o.activeDeployment.id} (to ${o.activeDeployment.toVersion}) is active; the declared ${state.version} waits until it ends`,
        );
  }
  if (o.record?.actedOn === fingerprint) {
    return none('not-retried', notRetriedReason(o, state, currentVersion));
  }
  return { action: 'deploy', state, fingerprint, fromVersion: currentVersion };
}

function notRetriedReason(
  o: CatalogSyncObservation,
  state: DeclaredPluginState,
  currentVersion: string,
): string {
  const again = 'change the annotations to deploy again';
  const last = o.lastDeployment;
  if (last && o.record?.deploymentId === last.id) {
    if (ENDED_UNSUCCESSFULLY.includes(last.phase)) {
      return `deployment ${last.id} to ${state.version} ended ${last.phase}${
        last.message ? ` (${last.message})` : ''
      }; not retried: ${again}`;
    }
    return `deployment ${last.id} moved it to ${state.version}, and it was moved to ${currentVersion} since (a rollback or a person's update); left as is: ${again}`;
  }
  return `it ran the declared ${state.version} and was moved to ${currentVersion} since (a rollback or a person's update); left as is: ${again}`;
}
