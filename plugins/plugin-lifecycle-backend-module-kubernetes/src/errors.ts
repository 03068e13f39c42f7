import {
  ConflictError,
  CustomErrorBase,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';

/** What the apiserver said when it refused a request (its v1 Status). @public */
export interface KubernetesStatus {
  code: number;
  reason?: string;
  message: string;
}

/**
 * The apiserver's Status from an error thrown by `@kubernetes/client-node`
 * (an ApiException with the code and the body, a Status or its JSON text),
 * or undefined for any other error.
 *
 * @public
 */
export function kubernetesStatus(error: unknown): KubernetesStatus | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, body } = error as { code?: unknown; body?: unknown };
  if (typeof code !== 'number') return undefined;
  let status: { reason?: unknown; message?: unknown } | undefined;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      status = { message: body };
    }
  } else if (typeof body === 'object' && body !== null) {
    status = body as typeof status;
  }
  return {
    code,
    reason: typeof status?.reason === 'string' ? status.reason : undefined,
    message:
      typeof status?.message === 'string'
        ? status.message
        : String((error as Error).message ?? ''),
  };
}

/** Whether the apiserver refused with `code`. */
export function isStatus(error: unknown, code: number): boolean {
  return kubernetesStatus(error)?.code === code;
}

/**
 * A failure the cluster reported while running a plugin (a pod that cannot
 * pull its image, a crash loop, pods refused by a quota, no ready pod in
 * time). Not retryable: the backend's operation would meet the same answer
 * again, as with a version that fails its readiness probes.
 *
 * @public
 */
export class KubernetesWorkloadError extends CustomErrorBase {
  name = 'KubernetesWorkloadError' as const;
  readonly retryable = false as const;
}

/**
 * A refusal of the apiserver as the error the rest of the backend knows
 * (403 NotAllowed, 404 NotFound, 409 Conflict, 422 Input), with the
 * cluster's own message after what the runtime was doing.
 */
export function clusterError(error: unknown, doing: string): Error {
  const status = kubernetesStatus(error);
  if (!status) {
    return new Error(
      `kubernetes: ${doing} failed: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
  const message = `kubernetes: ${doing} failed: ${status.message}`;
  switch (status.code) {
    case 403:
      return new NotAllowedError(message);
    case 404:
      return new NotFoundError(message);
    case 409:
      return new ConflictError(message);
    case 400:
    case 422:
      return new InputError(message);
    default:
      return new Error(message);
  }
}
