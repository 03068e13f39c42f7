import {
  AuthService,
  BackstageCredentials,
  DiscoveryService,
} from '@backstage/backend-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  Operation,
  PluginLifecycleClient,
} from '@internal/plugin-lifecycle-common';

/**
 * The plugin-lifecycle HTTP client acting for the given credentials (the
 * user who ran the template), so that the backend's permissions apply to
 * what the template does.
 *
 * @public
 */
export type PluginLifecycleClientFor = (
  credentials: BackstageCredentials,
) => PluginLifecycleClient;

/**
 * A {@link PluginLifecycleClientFor} that calls the plugin-lifecycle backend
 * with a plugin-to-plugin token on behalf of the credentials.
 *
 * @public
 */
export function createPluginLifecycleClientFor(options: {
  auth: AuthService;
  discovery: DiscoveryService;
}): PluginLifecycleClientFor {
  const { auth, discovery } = options;
  return credentials =>
    new PluginLifecycleClient({
      discoveryApi: discovery,
      fetchApi: {
        fetch: async (input, init) => {
          const { token } = await auth.getPluginRequestToken({
            onBehalfOf: credentials,
            targetPluginId: 'plugin-lifecycle',
          });
          const headers = new Headers(init?.headers);
          headers.set('Authorization', `Bearer ${token}`);
          return fetch(input, { ...init, headers });
        },
      },
    });
}

/**
 * The client of a template step: for the user who runs the template, and
 * with the backend's error messages as the step's errors (a `ResponseError`
 * says only "Request failed with 409 Conflict"; the body says why).
 */
export async function stepClient(
  clientFor: PluginLifecycleClientFor,
  ctx: { getInitiatorCredentials(): Promise<BackstageCredentials> },
): Promise<PluginLifecycleClient> {
  const client = clientFor(await ctx.getInitiatorCredentials());
  return new Proxy(client, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = value.apply(target, args);
        return result instanceof Promise ? result.catch(rethrow) : result;
      };
    },
  });
}

function rethrow(error: unknown): never {
  const body = (
    error as { body?: { error?: { name?: string; message?: string } } }
  )?.body?.error;
  if (error instanceof ResponseError && body?.message) {
    throw Object.assign(new Error(body.message, { cause: error }), {
      name: body.name ?? 'Error',
      statusCode: error.statusCode,
    });
  }
  throw error;
}

/** How a wait ended badly: its message is the step's error. */
export class WaitError extends Error {
  name = 'WaitError';
}

/**
 * Calls `check` until it answers a value, every `intervalMs`, and fails
 * with `what` when `timeoutMs` passes or the task is cancelled (`signal`).
 */
export async function pollUntil<T>(options: {
  what: string;
  check: () => Promise<T | undefined>;
  timeoutMs: number;
  intervalMs: number;
  signal?: AbortSignal;
}): Promise<T> {
  const { what, check, timeoutMs, intervalMs, signal } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) {
      throw new WaitError(`Waiting for ${what} was cancelled`);
    }
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) {
      throw new WaitError(
        `Timed out after ${timeoutMs / 1000} s waiting for ${what}`,
      );
    }
    await sleep(
      Math.min(intervalMs, Math.max(0, deadline - Date.now())),
      signal,
    );
  }
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits for an operation to end; fails with its error unless it succeeded.
 * `label` names the work in messages (`Updating sample to 1.1.0`).
 */
export async function waitForOperation(
  client: PluginLifecycleClient,
  operationId: string,
  options: {
    label: string;
    timeoutMs: number;
    intervalMs: number;
    signal?: AbortSignal;
  },
): Promise<Operation> {
  const operation = await pollUntil({
    what: `operation ${operationId} (${options.label})`,
    timeoutMs: options.timeoutMs,
    intervalMs: options.intervalMs,
    signal: options.signal,
    check: async () => {
      const op = await client.getOperation(operationId);
      return ['succeeded', 'failed', 'cancelled'].includes(op.status)
        ? op
        : undefined;
    },
  });
  if (operation.status !== 'succeeded') {
    throw new WaitError(
      `${options.label} ${operation.status} (operation ${operationId})${
        operation.error ? `: ${operation.error}` : ''
      }`,
    );
  }
  return operation;
}

/** Seconds from the input, as milliseconds, with a default. */
export function seconds(value: number | undefined, fallback: number) {
  return (value ?? fallback) * 1000;
}

/** What dry runs output for ids of work they did not queue. */
export const DRY_RUN_ID = 'dry-run';
