import { CustomErrorBase } from '@backstage/errors';

/**
 * A new instance did not pass its startup or readiness gate: its probe
 * never answered as expected before the deadline, or its process exited
 * first. The version (with its configuration) is what failed, so trying
 * the same operation again only repeats the wait; it is never retried.
 *
 * @public
 */
export class ReadinessFailedError extends CustomErrorBase {
  name = 'ReadinessFailedError' as const;
  readonly retryable = false as const;
  /** The instance that never got ready. */
  readonly instanceId: string;
  /** Why: its probe kept failing, or its process exited. */
  readonly reason: 'probe' | 'exited';

  constructor(
    message: string,
    details: { instanceId: string; reason: 'probe' | 'exited' },
    cause?: Error,
  ) {
    super(message, cause);
    this.instanceId = details.instanceId;
    this.reason = details.reason;
  }
}

/**
 * Broad kinds of failure, as {@link classifyFailure} tells them apart.
 *
 * - `readiness`: a new instance failed its probes (permanent)
 * - `rejected`: the request is invalid, forbidden, refers to something
 *   missing, conflicts with the current state or its precondition does not
 *   hold (permanent)
 * - `database`: the database was busy, locked or slow to hand out a
 *   connection (transient)
 * - `network`: a connection was reset, refused or timed out (transient)
 * - `registry`: a package registry or other upstream answered 5xx or 429
 *   (transient)
 * - `declared`: the error said itself whether to retry
 * - `unknown`: none of these; retried, as before this classification
 *
 * @public
 */
export type FailureKind =
  | 'readiness'
  | 'rejected'
  | 'database'
  | 'network'
  | 'registry'
  | 'declared'
  | 'unknown';

/**
 * Whether a failed attempt is worth another one, and why.
 *
 * @public
 */
export interface FailureClassification {
  retryable: boolean;
  kind: FailureKind;
  /** A short sentence for logs: why it is (not) retried. */
  reason: string;
}

/** Retrying cannot fix these: the same request meets the same answer. */
const REJECTED_NAMES: ReadonlySet<string> = new Set([
  'InputError',
  'NotAllowedError',
  'NotFoundError',
  'ConflictError',
  'PreconditionError',
  'AuthenticationError',
  'NotImplementedError',
]);

/**
 * SQLite (busy, locked), PostgreSQL (serialization failure, deadlock, lock
 * not available, too many connections, shutting down) and MySQL (lock wait,
 * deadlock) codes of a database that will answer again shortly.
 */
const DATABASE_BUSY_CODES: ReadonlySet<string> = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  '40001',
  '40P01',
  '55P03',
  '53300',
  '57P01',
  '57P03',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
]);

/** Socket and DNS codes of a peer that may answer on the next try. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
]);

/** The most causes followed: a cycle of causes must not loop forever. */
const MAX_CAUSE_DEPTH = 5;

/**
 * Tells whether an operation that failed with this error should be tried
 * again, by what caused it.
 *
 * A new version failing its probes ({@link ReadinessFailedError}) and
 * rejected requests (validation, permission, missing, conflict,
 * precondition) are permanent: another attempt meets the same answer and
 * only delays it. A busy or locked database, a connection reset or timed
 * out, and a registry answering 5xx or 429 are transient and retried.
 *
 * An explicit boolean `retryable` on the error decides first (with an
 * optional `retryKind` and `retryReason` saying why, as the lifecycle
 * actions set when they wrap an error after compensating). Errors are
 * recognized by name and code rather than class, so that serialized errors
 * classify the same; a wrapped error is classified by its `cause` when the
 * wrapper itself says nothing. Anything unrecognized is retried, as before
 * this classification existed.
 *
 * @public
 */
export function classifyFailure(error: unknown): FailureClassification {
  return classify(error, 0);
}

function classify(error: unknown, depth: number): FailureClassification {
  if (typeof error !== 'object' || error === null) {
    return unknown();
  }
  const e = error as {
    retryable?: unknown;
    retryReason?: unknown;
    retryKind?: unknown;
    name?: unknown;
    code?: unknown;
    errno?: unknown;
    status?: unknown;
    statusCode?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  const name = typeof e.name === 'string' ? e.name : '';
  const byName = classifyByName(name);
  if (typeof e.retryable === 'boolean') {
    if (byName?.retryable === e.retryable && !isKind(e.retryKind)) {
      return byName;
    }
    return {
      retryable: e.retryable,
      kind: isKind(e.retryKind) ? e.retryKind : 'declared',
      reason:
        typeof e.retryReason === 'string'
          ? e.retryReason
          : `the error says it is ${e.retryable ? '' : 'not '}retryable`,
    };
  }
  if (byName) {
    return byName;
  }
  const code = typeof e.code === 'string' ? e.code : String(e.errno ?? '');
  const message = typeof e.message === 'string' ? e.message : '';
  if (
    DATABASE_BUSY_CODES.has(code) ||
    name === 'KnexTimeoutError' ||
    /SQLITE_BUSY|database is locked|Timeout acquiring a connection/i.test(
      message,
    )
  ) {
    return {
      retryable: true,
      kind: 'database',
      reason: 'the database was busy or locked',
    };
  }
  if (NETWORK_CODES.has(code) || name === 'TimeoutError') {
    return {
      retryable: true,
      kind: 'network',
      reason: `a connection failed (${code || name})`,
    };
  }
  const status = Number(e.statusCode ?? e.status);
  const npmStatus = /\bnpm (?:ERR!|error) code E(5\d\d|429)\b/.exec(message);
  if (
    status === 429 ||
    (status >= 500 && status < 600) ||
    name === 'ServiceUnavailableError' ||
    npmStatus
  ) {
    return {
      retryable: true,
      kind: 'registry',
      reason: `an upstream answered ${npmStatus?.[1] ?? (status || 503)}`,
    };
  }
  if (
    /\bnpm (?:ERR!|error) (?:code|errno) (ETIMEDOUT|ECONNRESET|EAI_AGAIN)\b/.test(
      message,
    )
  ) {
    return {
      retryable: true,
      kind: 'registry',
      reason: 'the package registry could not be reached',
    };
  }
  if (e.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    return classify(e.cause, depth + 1);
  }
  return unknown();
}

function classifyByName(name: string): FailureClassification | undefined {
  if (name === 'ReadinessFailedError') {
    return {
      retryable: false,
      kind: 'readiness',
      reason:
        'a new instance failed its readiness gate; the same version would fail again',
    };
  }
  if (REJECTED_NAMES.has(name)) {
    return {
      retryable: false,
      kind: 'rejected',
      reason: `${name}: another attempt would be refused the same way`,
    };
  }
  return undefined;
}

function unknown(): FailureClassification {
  return {
    retryable: true,
    kind: 'unknown',
    reason: 'an unrecognized failure, retried in case it was transient',
  };
}

const KINDS: ReadonlySet<string> = new Set<FailureKind>([
  'readiness',
  'rejected',
  'database',
  'network',
  'registry',
  'declared',
  'unknown',
]);

function isKind(value: unknown): value is FailureKind {
  return typeof value === 'string' && KINDS.has(value);
}
