/** What the apiserver said when it refused a request (its v1 Status). */
export interface KubeErrorStatus {
  /** HTTP status code (403 forbidden, 404, 409 conflict, 422 invalid...). */
  code: number;
  /** Status.reason: Forbidden, NotFound, AlreadyExists, Conflict, Invalid... */
  reason?: string;
  /** Status.message, e.g. `pods is forbidden: User "restricted" cannot list resource...`. */
  message: string;
}

/**
 * The apiserver's Status from an error thrown by `@kubernetes/client-node`
 * (its ApiException carries the code and the body, a Status object or its
 * JSON text), or undefined for any other error.
 */
export function kubeErrorStatus(error: unknown): KubeErrorStatus | undefined {
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

/** Whether `error` is the apiserver refusing with `code` (any code when omitted). */
export function isKubeError(error: unknown, code?: number): boolean {
  const status = kubeErrorStatus(error);
  return status !== undefined && (code === undefined || status.code === code);
}
