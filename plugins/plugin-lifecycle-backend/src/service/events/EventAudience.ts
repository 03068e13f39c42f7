import { TenantScope, inTenantScope } from '../../domain/tenancy';
import type { PluginIdentity } from '../../permissions/PluginResources';
import type { ListFilter } from '../RouteAuthorizer';

/** What an event is about: the plugin and tenant its reader must be allowed. */
export interface EventSubject {
  pluginId?: string;
  tenant?: string;
}

/**
 * The plugin and tenant an event is about, read from its payload: most
 * carry `pluginId` (and operations their `tenant`), deployments carry
 * both on `deployment`, registered services only a `tenant`.
 */
export function subjectOf(payload: unknown): EventSubject {
  if (!payload || typeof payload !== 'object') return {};
  const p = payload as Record<string, unknown>;
  const source =
    p.deployment && typeof p.deployment === 'object'
      ? (p.deployment as Record<string, unknown>)
      : p;
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  return { pluginId: str(source.pluginId), tenant: str(source.tenant) };
}

/** How long a plugin's verdict is kept: conditions read the catalog. */
const VERDICT_TTL_MS = 30_000;

/**
 * Decides, event by event, whether one reader of `GET /events` may see it:
 * the same rule as the list routes. A plugin's event needs the plugin in the
 * reader's tenants and allowed by the read decision (a conditional one is
 * applied to the plugin); an event about no plugin needs an unconditional
 * allow and its tenant (if it names one) in the reader's tenants.
 */
export class EventAudience {
  readonly #scope: TenantScope;
  readonly #filter: ListFilter;
  readonly #unconditional: boolean;
  readonly #find: (pluginId: string) => Promise<PluginIdentity | undefined>;
  readonly #now: () => number;
  readonly #verdicts = new Map<string, { allowed: boolean; at: number }>();

  static create(options: {
    /** The reader's tenants. */
    scope: TenantScope;
    /** The read decision, as a list filter. */
    filter: ListFilter;
    /** Whether the read decision allows every plugin. */
    unconditional: boolean;
    /** The stored plugin (any tenant), for its tenant and entity. */
    find: (pluginId: string) => Promise<PluginIdentity | undefined>;
    now?: () => number;
  }): EventAudience {
    return new EventAudience(options);
  }

  private constructor(options: Parameters<typeof EventAudience.create>[0]) {
    this.#scope = options.scope;
    this.#filter = options.filter;
    this.#unconditional = options.unconditional;
    this.#find = options.find;
    this.#now = options.now ?? Date.now;
  }

  async admits(payload: unknown): Promise<boolean> {
    const { pluginId, tenant } = subjectOf(payload);
    if (!pluginId) {
      if (!this.#unconditional) return false;
      return tenant
        ? inTenantScope(this.#scope, tenant)
        : this.#scope.all === true;
    }
    if (tenant && !inTenantScope(this.#scope, tenant)) return false;
    const cached = this.#verdicts.get(pluginId);
    if (cached && this.#now() - cached.at < VERDICT_TTL_MS) {
      return cached.allowed;
    }
    const { allowed, known } = await this.#judge(pluginId, tenant);
    // A plugin no longer stored is judged by each event's own word.
    if (known) this.#verdicts.set(pluginId, { allowed, at: this.#now() });
    return allowed;
  }

  async #judge(
    pluginId: string,
    tenant?: string,
  ): Promise<{ allowed: boolean; known: boolean }> {
    if (this.#unconditional && this.#scope.all) {
      return { allowed: true, known: true };
    }
    // The stored plugin says its tenant and entity; one already gone
    // (uninstalled) is judged by what the event says.
    const stored = await this.#find(pluginId);
    const identity = stored ?? (tenant ? { id: pluginId, tenant } : undefined);
    const known = stored !== undefined;
    if (!identity || !inTenantScope(this.#scope, identity.tenant)) {
      return { allowed: false, known };
    }
    if (this.#unconditional) return { allowed: true, known };
    return { allowed: (await this.#filter([identity])).length === 1, known };
  }
}
