import { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import {
  Entity,
  RELATION_OWNED_BY,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { PluginLifecyclePluginResource } from './rules';

/** The parts of a managed plugin the resource needs. */
export type PluginIdentity = { id: string; tenant: string; entityRef?: string };

/** The owners of an entity: its `ownedBy` relations, else its `spec.owner`. */
export function ownersOf(entity: Entity): string[] {
  const related = (entity.relations ?? [])
    .filter(r => r.type === RELATION_OWNED_BY)
    .map(r => r.targetRef);
  if (related.length > 0) return related;
  const owner = entity.spec?.owner;
  if (typeof owner !== 'string' || owner === '') return [];
  try {
    return [
      stringifyEntityRef(
        parseEntityRef(owner, {
          defaultKind: 'Group',
          defaultNamespace: entity.metadata.namespace ?? 'default',
        }),
      ),
    ];
  } catch {
    return [];
  }
}

/**
 * `kind:namespace/name` in lower case, as the catalog keys entities (kind
 * Component and namespace default when left out); undefined when unparsable.
 */
export function normalizeEntityRef(entityRef?: string): string | undefined {
  if (!entityRef) return undefined;
  try {
    return stringifyEntityRef(
      parseEntityRef(entityRef, {
        defaultKind: 'Component',
        defaultNamespace: 'default',
      }),
    ).toLocaleLowerCase('en-US');
  } catch {
    return undefined;
  }
}

/**
 * Builds the permission resources of managed plugins: the plugin and the
 * owners of its catalog entity, read from the catalog with the plugin's own
 * credentials. A catalog that cannot be reached leaves a plugin without
 * owners (so ownership conditions deny) rather than failing the request.
 */
export class PluginResources {
  readonly #find: (id: string) => Promise<PluginIdentity | undefined>;
  readonly #catalog: CatalogService;
  readonly #auth: AuthService;
  readonly #logger: LoggerService;

  private constructor(options: {
    find: (id: string) => Promise<PluginIdentity | undefined>;
    catalog: CatalogService;
    auth: AuthService;
    logger: LoggerService;
  }) {
    this.#find = options.find;
    this.#catalog = options.catalog;
    this.#auth = options.auth;
    this.#logger = options.logger;
  }

  static create(options: {
    /** The stored plugin with this id, whatever its tenant. */
    find: (id: string) => Promise<PluginIdentity | undefined>;
    catalog: CatalogService;
    auth: AuthService;
    logger: LoggerService;
  }) {
    return new PluginResources(options);
  }

  /** The resources for these plugin ids (undefined where no such plugin). */
  async load(
    ids: string[],
  ): Promise<Array<PluginLifecyclePluginResource | undefined>> {
    const plugins = await Promise.all(ids.map(id => this.#find(id)));
    const found = plugins.filter((p): p is PluginIdentity => !!p);
    const resources = new Map(
      (await this.of(found)).map(resource => [resource.id, resource]),
    );
    return ids.map(id => resources.get(id));
  }

  /** The resources of plugins already read, in one catalog request. */
  async of(
    plugins: PluginIdentity[],
  ): Promise<PluginLifecyclePluginResource[]> {
    const refs = plugins.map(p => normalizeEntityRef(p.entityRef));
    const owners = await this.#owners([
      ...new Set(refs.filter((r): r is string => !!r)),
    ]);
    return plugins.map((p, i) => ({
      id: p.id,
      tenant: p.tenant,
      entityRef: p.entityRef,
      owners: (refs[i] && owners.get(refs[i]!)) || [],
    }));
  }

  async #owners(refs: string[]): Promise<Map<string, string[]>> {
    const owners = new Map<string, string[]>();
    if (refs.length === 0) return owners;
    try {
      const { items } = await this.#catalog.getEntitiesByRefs(
        {
          entityRefs: refs,
          fields: [
            'kind',
            'metadata.namespace',
            'metadata.name',
            'spec.owner',
            'relations',
          ],
        },
        { credentials: await this.#auth.getOwnServiceCredentials() },
      );
      items.forEach((entity, i) => {
        if (entity) owners.set(refs[i], ownersOf(entity));
      });
    } catch (error) {
      this.#logger.warn(
        `Could not read the owners of ${refs.length} catalog entities; ownership conditions deny until the catalog answers: ${error}`,
      );
    }
    return owners;
  }
}
