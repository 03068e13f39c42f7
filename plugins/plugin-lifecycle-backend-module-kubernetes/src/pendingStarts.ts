import os from 'node:os';
import { isOwnerGone } from '@internal/plugin-lifecycle-node';

/**
 * Starts in flight, written on their set's Deployment. A start scales the
 * Deployment up by one before its pod exists, and the backend records the
 * instance only when the start returns: a backend killed in between would
 * leave one replica too many, whose pod nobody claims, for good. The next
 * backend finds the start here and takes it back (see
 * KubernetesRuntime.reapOrphans).
 *
 * The annotation's value is JSON: `{ "<instanceId>": { owner, since } }`.
 */
export const STARTING_ANNOTATION = 'plugin-lifecycle.backstage.io/starting';

/** Who began a start (`<host>:<pid>`) and when (ISO time). */
export interface PendingStart {
  owner: string;
  since: string;
}

/** The starts in flight recorded in a Deployment's annotations. */
export function readPendingStarts(
  annotations: Record<string, string> | undefined,
): Record<string, PendingStart> {
  try {
    const value = JSON.parse(annotations?.[STARTING_ANNOTATION] ?? '{}');
    return value && typeof value === 'object' ? value : {};
  } catch {
    return {}; // not ours to judge: nothing is taken back
  }
}

/** This process as the owner of the starts it begins. */
export function startOwner(): string {
  return `${os.hostname()}:${process.pid}`;
}

/**
 * Whether nobody will finish a start: its process on this host no longer
 * exists, or (from any host) it is older than a start may wait plus a
 * minute, so its backend gave up or died (a backend restarted in a new pod
 * has a new host name).
 */
export function isStartAbandoned(
  start: PendingStart,
  options: { startTimeoutMs: number; now?: number },
): boolean {
  const now = options.now ?? Date.now();
  if (Date.parse(start.since) + options.startTimeoutMs + 60_000 < now) {
    return true;
  }
  return isOwnerGone(String(start.owner));
}
