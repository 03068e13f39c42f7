import os from 'node:os';
import { randomUUID } from 'node:crypto';

/**
 * A replica id says where the replica runs: `<host>:<pid>:<random>`, so a
 * replica on the same host can tell at once that another one is gone.
 */
export function newReplicaId(): string {
  return `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * True when the owner is a replica on this host whose process no longer
 * exists (shared with runtime modules through -node).
 */
export { isOwnerGone } from '@internal/plugin-lifecycle-node';

/** True when the owner is another replica on this host (its processes are this host's). */
export function isOtherReplicaOnThisHost(owner: string): boolean {
  const [host, pidText] = owner.split(':');
  return host === os.hostname() && Number(pidText) !== process.pid;
}
