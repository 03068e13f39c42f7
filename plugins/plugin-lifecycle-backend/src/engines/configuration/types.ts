import { LoggerService } from '@backstage/backend-plugin-api';
import {
  ConfigurationEntry,
  EffectiveConfigEntry,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { StoredConfigVersion } from '../../database/ConfigStore';
import { PluginRecord } from '../../database/PluginStore';
import { SystemEvents } from '../../events/SystemEvents';
import type { TenantScope } from '../../domain/tenancy';
import { SecretKeyRing } from './SecretKeyRing';

/** Plaintext effective configuration, as instances get it. */
export interface ResolvedConfiguration {
  environment: string;
  revision: number;
  /** The latest version of each layer (0: none). */
  versions: { base: number; environment: number };
  entries: EffectiveConfigEntry[];
}

/** A layer written back by `ConfigurationManager.restoreAtRevision`. */
export interface RestoredLayer {
  layer: string;
  version: number;
  revision: number;
  /** The layer's latest version before (0: none). */
  previousVersion: number;
}

/** A change written here, for the hook that brings it to running instances. */
export interface ConfigChanged {
  plugin: PluginRecord;
  layer: string;
  version: StoredConfigVersion;
  actor?: string;
}

/** What a write does to a layer: replace its content, or merge keys into it. */
export type LayerChange =
  | { mode: 'replace'; entries: ConfigurationEntry[] }
  | { mode: 'merge'; entries: ConfigurationEntry[]; remove?: string[] };

/** Options of a configuration write. */
export interface ConfigWriteOptions {
  /** The layer: `base` or an environment (default: the default environment). */
  environment?: string;
  userId?: string;
  description?: string;
  /** Check-and-set: ConflictError unless the layer is at this version. */
  expectedVersion?: number;
  scope?: TenantScope;
  /** The schema to hold entries to when the plugin has no version yet. */
  schema?: Record<string, unknown>;
  /** False: store only; running instances are not told (install). */
  applyToInstances?: boolean;
}

/** What `ConfigurationManager.create` needs: database, keys, hooks. */
export interface ConfigurationManagerOptions {
  db: Knex;
  logger: LoggerService;
  keyRing: SecretKeyRing;
  events: SystemEvents;
  environments: string[];
  defaultEnvironment: string;
  maxVersionHistory: number;
  pollIntervalMs: number;
  /**
   * The plugin if the scope may see it; NotFoundError otherwise. Reads ask
   * with `ALL_TENANTS`, keep the plugin's id and tenant for
   * `pluginCacheTtlMs` and check the caller's scope against that tenant.
   */
  getPlugin: (pluginId: string, scope: TenantScope) => Promise<PluginRecord>;
  /**
   * How long reads keep a plugin's id and tenant without looking it up
   * again (default 5 s; 0: look it up on every read). Changes on this
   * replica drop it at once; this bounds how long a change made elsewhere
   * (another replica uninstalling it or moving it to another tenant) goes
   * unseen by this replica's reads.
   */
  pluginCacheTtlMs?: number;
  /** The clock of that cache (tests). */
  now?: () => number;
  /** The JSON Schema of the plugin's configuration, from its manifest. */
  getSchema: (
    plugin: PluginRecord,
  ) => Promise<Record<string, unknown> | undefined>;
  /** Brings a change to a running plugin; returns the operation id, if any. */
  onChanged?: (change: ConfigChanged) => Promise<string | undefined>;
}

/** Who reads, and whether secret values may be shown. */
export interface Access {
  scope?: TenantScope;
  /** Show secret values in plaintext (the caller was allowed to). */
  reveal?: boolean;
}

/** Options of a rollback to an earlier version. */
export interface ConfigRollbackOptions {
  userId?: string;
  description?: string;
  expectedVersion?: number;
  scope?: TenantScope;
}

/** What a long-poll waits for, and how long. */
export interface ConfigWaitOptions {
  afterRevision?: number;
  afterVersion?: number;
  /** Only a change of this key's value counts. */
  key?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}
