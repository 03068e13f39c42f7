import { Operation } from '@internal/plugin-lifecycle-common';

/** The versions a succeeded update recorded (`result.fromVersion`, `toVersion`). */
export function updateVersions(
  operation: Operation,
): { fromVersion: string; toVersion: string } | undefined {
  const from = operation.result?.fromVersion;
  const to = operation.result?.toVersion;
  return typeof from === 'string' && typeof to === 'string'
    ? { fromVersion: from, toVersion: to }
    : undefined;
}

/**
 * The update the API can roll back now, if any: the newest succeeded
 * update, when it installed the version the plugin is at (the API answers
 * 409 otherwise).
 */
export function rollbackCandidate(
  operations: Operation[],
  currentVersion?: string,
): Operation | undefined {
  const latest = operations.find(
    o => o.type === 'update' && o.status === 'succeeded',
  );
  const versions = latest && updateVersions(latest);
  return versions && versions.toVersion === currentVersion ? latest : undefined;
}
