import { InputError } from '@backstage/errors';
import { ConfigurationEntry } from '@internal/plugin-lifecycle-common';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { StoredConfigVersion } from '../../database/ConfigStore';
import { PluginRecord } from '../../database/PluginStore';
import { ConfigurationManager } from './ConfigurationManager';

/** The format tag of an export document. */
export const CONFIG_EXPORT_FORMAT = 'plugin-lifecycle.config-export/v1';

const storedVersionSchema = z.object({
  revision: z.number(),
  pluginId: z.string().min(1),
  layer: z.string().min(1),
  version: z.number().int().min(1),
  entries: z.array(
    z
      .object({
        key: z.string().min(1),
        // The types a stored entry may have; an export holds nothing else.
        type: z.enum(['string', 'number', 'boolean', 'json', 'secret']),
        value: z.unknown(),
        required: z.boolean().optional(),
        sensitive: z.boolean().optional(),
        description: z.string().optional(),
        rotateAt: z.string().optional(),
      })
      .passthrough(),
  ),
  keyIds: z.array(z.string()),
  author: z.string().optional(),
  description: z.string().optional(),
  rolledBackFrom: z.number().optional(),
  createdAt: z.string(),
});

const exportSchema = z
  .object({
    format: z.literal(CONFIG_EXPORT_FORMAT),
    exportedAt: z.string(),
    versions: z.array(storedVersionSchema),
    signature: z.object({ kid: z.string(), signature: z.string() }).strict(),
  })
  .strict();

/**
 * A backup of configuration: every stored version, secrets still sealed,
 * signed (HMAC) with a key of the ring so an import can tell it was not
 * changed and comes from a backend holding the same keys.
 */
export interface ConfigExport {
  format: typeof CONFIG_EXPORT_FORMAT;
  exportedAt: string;
  versions: StoredConfigVersion[];
  signature: { kid: string; signature: string };
}

/** What an import did, per plugin layer. */
export interface ConfigImportResult {
  restored: Array<{ pluginId: string; layer: string; version: number }>;
  skipped: Array<{ pluginId: string; layer: string; reason: string }>;
}

/**
 * What the signature covers, with keys sorted at every level: parsing and
 * re-serialising (by the importer, an editor, a proxy) may reorder keys.
 */
function signedContent(doc: Omit<ConfigExport, 'signature'>): string {
  return canonicalJson({
    format: doc.format,
    exportedAt: doc.exportedAt,
    versions: doc.versions,
  });
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map(k => [k, v[k]]),
        )
      : v,
  );
}

/** Exports every version of the given plugins' configuration. */
export async function exportConfiguration(
  manager: ConfigurationManager,
  pluginIds: string[] | undefined,
): Promise<ConfigExport> {
  if (!manager.keyRing.hasKeys) {
    throw new InputError(
      'Cannot sign an export: no encryption key is configured (pluginLifecycle.configuration.encryption.keys)',
    );
  }
  const versions = await manager.store.listAll(pluginIds);
  const doc = {
    format: CONFIG_EXPORT_FORMAT as typeof CONFIG_EXPORT_FORMAT,
    exportedAt: new Date().toISOString(),
    versions,
  };
  return { ...doc, signature: manager.keyRing.sign(signedContent(doc)) };
}

/**
 * Restores an export: refuses a document whose signature does not verify or
 * whose secrets do not open; then, for each plugin layer in it, writes the
 * exported latest content as a new version (history is never rewritten),
 * unless the layer already holds exactly that.
 */
export async function importConfiguration(
  manager: ConfigurationManager,
  input: unknown,
  options: {
    userId?: string;
    /** The plugin if the caller may change it; undefined otherwise. */
    findPlugin: (pluginId: string) => Promise<PluginRecord | undefined>;
  },
): Promise<ConfigImportResult> {
  const parsed = exportSchema.safeParse(input);
  if (!parsed.success) {
    throw new InputError(
      `Not a configuration export (${CONFIG_EXPORT_FORMAT}): ${parsed.error.issues
        .slice(0, 5)
        .map(i => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ')}`,
    );
  }
  const doc: ConfigExport = parsed.data;
  const ring = manager.keyRing;
  if (!ring.hasKey(doc.signature.kid)) {
    throw new InputError(
      `Cannot verify the export: it is signed with key '${doc.signature.kid}', which this backend does not have`,
    );
  }
  if (!ring.verify(signedContent(doc), doc.signature)) {
    throw new InputError(
      'Cannot verify the export: its signature does not match its content (changed after export, or signed with another secret under the same key id)',
    );
  }
  const versions = doc.versions;
  // Every secret must open before anything is written.
  const plainByVersion = new Map<StoredConfigVersion, ConfigurationEntry[]>();
  for (const version of versions) {
    try {
      plainByVersion.set(version, manager.openVersion(version));
    } catch (error) {
      throw new InputError(
        `Cannot import: a secret of ${version.pluginId}/${
          version.layer
        } version ${version.version} does not open (${
          (error as Error).message
        })`,
      );
    }
  }
  const latest = new Map<string, StoredConfigVersion>();
  for (const version of versions) {
    const key = `${version.pluginId}\u0000${version.layer}`;
    const seen = latest.get(key);
    if (!seen || seen.version < version.version) latest.set(key, version);
  }
  const result: ConfigImportResult = { restored: [], skipped: [] };
  for (const version of latest.values()) {
    const { pluginId, layer } = version;
    if (!manager.layers.includes(layer)) {
      result.skipped.push({ pluginId, layer, reason: 'unknown environment' });
      continue;
    }
    const plugin = await options.findPlugin(pluginId);
    if (!plugin) {
      result.skipped.push({ pluginId, layer, reason: 'no such plugin' });
      continue;
    }
    const entries = plainByVersion.get(version)!;
    const current = await manager.store.latest(pluginId, layer);
    if (current && isDeepStrictEqual(manager.openVersion(current), entries)) {
      result.skipped.push({ pluginId, layer, reason: 'unchanged' });
      continue;
    }
    const written = await manager.appendPlain(plugin, layer, entries, {
      author: options.userId,
      description: `restored from the export of ${doc.exportedAt} (version ${version.version})`,
    });
    result.restored.push({ pluginId, layer, version: written.version });
  }
  return result;
}
