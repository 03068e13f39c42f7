import {
  AuditorService,
  AuthService,
  LoggerService,
} from '@backstage/backend-plugin-api';
import { Entity } from '@backstage/catalog-model';
import { CatalogService } from '@backstage/plugin-catalog-node';
import {
  DeclaredPluginStateResult,
  Deployment,
  OperationAccepted,
  UpdateRequest,
  readDeclaredPluginState,
} from '@internal/plugin-lifecycle-common';
import {
  CatalogSyncRecord,
  CatalogSyncStore,
} from '../../database/CatalogSyncStore';
import {
  CatalogSyncDecision,
  CatalogSyncStatus,
  decideCatalogSync,
} from '../../domain/catalogSync';
import { normalizeEntityRef } from '../../permissions/PluginResources';

/** What catalog sync reads and starts through the orchestration system's facade. */
export interface CatalogSyncSystem {
  findPluginRecord(
    pluginId: string,
  ): Promise<{ currentVersion?: string; entityRef?: string } | undefined>;
  listPluginDeployments(
    pluginId: string,
    filter: { active?: boolean; limit?: number },
  ): Promise<Deployment[]>;
  getDeployment(deploymentId: string): Promise<Deployment>;
  updatePlugin(
    pluginId: string,
    version: string,
    options: Omit<UpdateRequest, 'version'> & { userId?: string },
  ): Promise<OperationAccepted>;
}

/** What one pass did about one plugin. */
export interface CatalogSyncResult {
  pluginId: string;
  entityRef?: string;
  status: CatalogSyncStatus;
  reason: string;
  deploymentId?: string;
}

/** The actor of the operations and deployments catalog sync starts. */
export function catalogSyncActor(entityRef: string): string {
  return `catalog-sync:${entityRef}`;
}

/** Options of {@link CatalogSync.create}. */
export interface CatalogSyncOptions {
  system: CatalogSyncSystem;
  store: CatalogSyncStore;
  catalog: CatalogService;
  /** The plugin's own service credentials read the catalog. */
  auth: AuthService;
  auditor?: AuditorService;
  logger: LoggerService;
  /** The opted-in plugin ids (read on each pass). */
  plugins: () => string[];
}

/**
 * Catalog sync: reads what the linked catalog entities of opted-in
 * plugins declare (version, strategy, settings), compares it with what
 * runs and starts a deployment (an audited `updatePlugin`) where they
 * differ, by the rules of {@link decideCatalogSync}. It records per plugin
 * what it acted on and why it did nothing, and logs each change of that.
 * One pass at a time: the plugin schedules {@link CatalogSync.run} as a
 * task the scheduler runs on one replica.
 */
export class CatalogSync {
  readonly #o: CatalogSyncOptions;

  private constructor(options: CatalogSyncOptions) {
    this.#o = options;
  }

  static create(options: CatalogSyncOptions): CatalogSync {
    return new CatalogSync(options);
  }

  /**
   * One pass over the opted-in plugins. A catalog that cannot be read ends
   * the pass with nothing changed; a plugin that fails does not stop the
   * others.
   */
  async run(): Promise<CatalogSyncResult[]> {
    const ids = this.#o.plugins();
    if (ids.length === 0) return [];
    const plugins = await Promise.all(
      ids.map(async id => ({
        id,
        plugin: await this.#o.system.findPluginRecord(id),
      })),
    );
    let declarations: Map<string, DeclaredPluginStateResult>;
    try {
      declarations = await this.#declarations(
        plugins.map(p => p.plugin?.entityRef),
      );
    } catch (error) {
      this.#o.logger.warn(
        `Catalog sync could not read the catalog; nothing changes until it answers: ${error}`,
      );
      return [];
    }
    const results: CatalogSyncResult[] = [];
    for (const { id, plugin } of plugins) {
      try {
        results.push(await this.#syncOne(id, plugin, declarations));
      } catch (error) {
        this.#o.logger.warn(`Catalog sync of '${id}' failed: ${error}`);
      }
    }
    return results;
  }

  /** What each linked entity declares, by normalized entity ref. */
  async #declarations(
    entityRefs: Array<string | undefined>,
  ): Promise<Map<string, DeclaredPluginStateResult>> {
    const refs = [
      ...new Set(
        entityRefs
          .map(ref => normalizeEntityRef(ref))
          .filter((ref): ref is string => !!ref),
      ),
    ];
    const declarations = new Map<string, DeclaredPluginStateResult>();
    if (refs.length === 0) return declarations;
    const { items } = await this.#o.catalog.getEntitiesByRefs(
      {
        entityRefs: refs,
        fields: [
          'kind',
          'metadata.namespace',
          'metadata.name',
          'metadata.annotations',
        ],
      },
      { credentials: await this.#o.auth.getOwnServiceCredentials() },
    );
    items.forEach((entity: Entity | undefined, i) => {
      if (entity) {
        declarations.set(
          refs[i],
          readDeclaredPluginState(entity.metadata.annotations),
        );
      }
    });
    return declarations;
  }

  async #syncOne(
    pluginId: string,
    plugin: { currentVersion?: string; entityRef?: string } | undefined,
    declarations: Map<string, DeclaredPluginStateResult>,
  ): Promise<CatalogSyncResult> {
    const { system, store } = this.#o;
    const entityRef = normalizeEntityRef(plugin?.entityRef);
    const record = await store.get(pluginId);
    const installed = !!plugin?.currentVersion;
    const [active] = installed
      ? await system.listPluginDeployments(pluginId, {
          active: true,
          limit: 1,
        })
      : [];
    const lastDeployment = record?.deploymentId
      ? await system.getDeployment(record.deploymentId).catch(() => undefined)
      : undefined;
    const decision = decideCatalogSync({
      pluginId,
      plugin: plugin && {
        currentVersion: plugin.currentVersion,
        entityRef,
      },
      declaration: entityRef ? declarations.get(entityRef) : undefined,
      activeDeployment: active && {
        id: active.id,
        toVersion: active.toVersion,
      },
      record,
      lastDeployment,
    });
    if (decision.action === 'none') {
      await this.#record(record, {
        pluginId,
        entityRef,
        actedOn: decision.acknowledge ?? record?.actedOn,
        // A new acknowledgement is of a version found running: no deployment.
        deploymentId:
          decision.acknowledge && decision.acknowledge !== record?.actedOn
            ? undefined
            : record?.deploymentId,
        status: decision.status,
        reason: decision.reason,
      });
      return {
        pluginId,
        entityRef,
        status: decision.status,
        reason: decision.reason,
      };
    }
    return this.#deploy(pluginId, entityRef!, decision, record);
  }

  /** Starts the deployment of a declared state: audited, with the entity as the actor's context. */
  async #deploy(
    pluginId: string,
    entityRef: string,
    decision: Extract<CatalogSyncDecision, { action: 'deploy' }>,
    record: CatalogSyncRecord | undefined,
  ): Promise<CatalogSyncResult> {
    const { state, fingerprint, fromVersion } = decision;
    const actor = catalogSyncActor(entityRef);
    const meta = {
      actor: { type: 'catalog-sync', entityRef, userId: actor },
      pluginId,
      fromVersion,
      toVersion: state.version,
      strategy: state.strategy,
    };
    // The event is created once the outcome is known, so that a refusal
    // repeated pass after pass (an operation in the way) is audited once.
    const audit = () =>
      this.#o.auditor?.createEvent({
        eventId: 'catalog-sync',
        severityLevel: 'medium',
        meta,
      });
    let accepted: OperationAccepted;
    try {
      accepted = await this.#o.system.updatePlugin(pluginId, state.version, {
        deploymentStrategy: state.strategy,
        deploymentConfig: state.config,
        reason: `declared by ${entityRef} (catalog sync)`,
        userId: actor,
      });
    } catch (error) {
      // Not acted on: the next pass tries again (an operation in the way
      // ends, an open circuit breaker closes).
      const reason = `could not start the deployment to ${state.version} declared by ${entityRef}: ${error}`;
      const repeated = record?.status === 'error' && record.reason === reason;
      if (!repeated) {
        const event = await audit();
        await event?.fail({
          error: error instanceof Error ? error : new Error(String(error)),
        });
      }
      await this.#record(record, {
        pluginId,
        entityRef,
        actedOn: record?.actedOn,
        deploymentId: record?.deploymentId,
        status: 'error',
        reason,
      });
      return { pluginId, entityRef, status: 'error', reason };
    }
    const event = await audit();
    await event?.success({
      meta: {
        operationId: accepted.operationId,
        deploymentId: accepted.deploymentId ?? null,
      },
    });
    const reason = `started deployment ${
      accepted.deploymentId ?? accepted.operationId
    } from ${fromVersion} to ${state.version} (${
      state.strategy
    }), declared by ${entityRef}`;
    await this.#record(record, {
      pluginId,
      entityRef,
      actedOn: fingerprint,
      deploymentId: accepted.deploymentId,
      status: 'deployment-started',
      reason,
    });
    return {
      pluginId,
      entityRef,
      status: 'deployment-started',
      reason,
      deploymentId: accepted.deploymentId,
    };
  }

  /** Writes the record when it changed, and says so in the log. */
  async #record(
    before: CatalogSyncRecord | undefined,
    next: Omit<CatalogSyncRecord, 'updatedAt'>,
  ) {
    if (
      before &&
      before.entityRef === next.entityRef &&
      before.actedOn === next.actedOn &&
      before.deploymentId === next.deploymentId &&
      before.status === next.status &&
      before.reason === next.reason
    ) {
      return;
    }
    await this.#o.store.put(next);
    const log =
      next.status === 'error' || next.status === 'invalid'
        ? this.#o.logger.warn
        : this.#o.logger.info;
    log.call(
      this.#o.logger,
      `Catalog sync of '${next.pluginId}': ${next.status}: ${next.reason}`,
    );
  }
}
