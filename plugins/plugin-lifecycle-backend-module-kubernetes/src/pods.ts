import type { V1Pod } from '@kubernetes/client-node';

/**
 * Container states that mean the pod will not become ready by waiting:
 * the image cannot be had, the container keeps crashing or cannot be made.
 */
const FAILING_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Running, with an address, and its Ready condition true (its readiness probe passes). */
export function isReady(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    pod.status?.phase === 'Running' &&
    !!pod.status?.podIP &&
    (pod.status?.conditions ?? []).some(
      c => c.type === 'Ready' && c.status === 'True',
    )
  );
}

/** Not ended, not being deleted, not failing: it may still become ready. */
export function isAlivePod(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    pod.status?.phase !== 'Failed' &&
    pod.status?.phase !== 'Succeeded' &&
    !podFailure(pod)
  );
}

/** A container of the pod in a state that will not heal by waiting, as a message. */
export function podFailure(pod: V1Pod): string | undefined {
  for (const status of [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ]) {
    const waiting = status.state?.waiting;
    if (waiting?.reason && FAILING_REASONS.has(waiting.reason)) {
      return `pod ${pod.metadata?.name} container ${status.name}: ${
        waiting.reason
      }${waiting.message ? ` (${waiting.message})` : ''}${
        status.restartCount ? `, ${status.restartCount} restarts` : ''
      }`;
    }
  }
  return undefined;
}

/**
 * Why an instance's pod is no longer alive (see isAlivePod), as the output
 * of its unexpected exit: the failing container, the deletion, or the
 * phase it ended in with the cluster's reason (an eviction, say).
 */
export function podExitOutput(
  pod: V1Pod | undefined,
  namespace: string,
  deleted = false,
): string {
  if (!pod) return `the instance's pod is gone from namespace ${namespace}`;
  const failure = podFailure(pod);
  if (failure) return failure;
  const name = `pod ${pod.metadata?.name}`;
  if (deleted || pod.metadata?.deletionTimestamp) return `${name} was deleted`;
  const why = [pod.status?.reason, pod.status?.message]
    .filter(Boolean)
    .join(': ');
  return `${name} ${pod.status?.phase ?? 'ended'}${why ? ` (${why})` : ''}`;
}

/**
 * A refusal the ReplicaSet controller gets past by retrying: a new
 * namespace's `default` service account not made yet (the ServiceAccount
 * admission plugin refuses pods until then).
 */
export function isTransient(message: string | undefined): boolean {
  return /error looking up service account|serviceaccount "[^"]*" not found/i.test(
    message ?? '',
  );
}
