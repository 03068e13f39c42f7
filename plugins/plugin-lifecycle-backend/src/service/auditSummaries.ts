import type { ConfigExport } from '../engines/configuration/configBackup';

/**
 * What an audit record keeps of a configuration export: which versions of
 * which layers, and their keys; never the values (the export itself holds
 * every plain value and sealed secret, and audit records go to logs).
 */
export function exportAuditSummary(doc: ConfigExport) {
  return {
    format: doc.format,
    exportedAt: doc.exportedAt,
    versions: doc.versions.map(v => ({
      pluginId: v.pluginId,
      layer: v.layer,
      version: v.version,
      keys: v.entries.map(e => e.key),
    })),
  };
}

/**
 * What an audit record keeps of a configuration write, rollback or preview:
 * the version written, whether anything changed, the operation and the keys
 * added, removed or changed; never values. A preview (dry run) says only
 * that it was one, since it carries the would-be content.
 */
export function writeAuditSummary(result: object) {
  const r = result as {
    dryRun?: boolean;
    currentVersion?: number;
    version?: { version?: number; revision?: number };
    changed?: boolean;
    operationId?: string;
    /** The diff against the version before (the write route adds it). */
    changes?: {
      added?: Array<{ key: string }>;
      removed?: Array<{ key: string }>;
      changed?: Array<{ key: string }>;
    };
  };
  if (r.dryRun === true) {
    return {
      dryRun: true,
      currentVersion: r.currentVersion,
      changed: r.changed,
    };
  }
  return {
    version: r.version?.version,
    revision: r.version?.revision,
    changed: r.changed,
    ...(r.operationId ? { operationId: r.operationId } : {}),
    ...(r.changes
      ? {
          keys: {
            added: (r.changes.added ?? []).map(e => e.key),
            removed: (r.changes.removed ?? []).map(e => e.key),
            changed: (r.changes.changed ?? []).map(e => e.key),
          },
        }
      : {}),
  };
}
