import { ResponseError } from '@backstage/errors';
import { z } from 'zod';
import { Page } from '../api/schemas';
import { RouteSpec, routePath } from '../routes/route';

/** How the client finds the backend and sends requests to it. */
export interface RequestCoreOptions {
  discoveryApi: { getBaseUrl(pluginId: string): Promise<string> };
  fetchApi?: { fetch: typeof fetch };
}

/**
 * What every area of {@link PluginLifecycleClient} sends its requests
 * through: the backend's base URL, the caller's fetch, the route registry
 * and one error shape (a `ResponseError` for any answer that is not ok).
 */
export class RequestCore {
  readonly #discoveryApi: { getBaseUrl(pluginId: string): Promise<string> };
  readonly #fetchApi: { fetch: typeof fetch };

  constructor(options: RequestCoreOptions) {
    this.#discoveryApi = options.discoveryApi;
    this.#fetchApi = options.fetchApi ?? { fetch: (...a) => fetch(...a) };
  }

  /**
   * Sends a request to `path` (with its query) of the backend; throws the
   * answer as a `ResponseError` unless it is ok.
   */
  async send(path: string, init: RequestInit): Promise<Response> {
    const baseUrl = await this.#discoveryApi.getBaseUrl('plugin-lifecycle');
    const response = await this.#fetchApi.fetch(`${baseUrl}${path}`, init);
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    return response;
  }

  /**
   * Calls a route of the registry: its method, its path with `params`
   * filled in, `query` (undefined values left out) and `body` as JSON.
   */
  async call<R extends RouteSpec>(
    route: R,
    request: {
      params?: Record<string, string | number>;
      query?: Record<string, string | number | undefined>;
      body?: unknown;
      signal?: AbortSignal;
    },
  ): Promise<z.infer<R['response']>> {
    const path = `${routePath(route, request.params)}${queryString(
      request.query,
    )}`;
    const hasBody = 'body' in request;
    const response = await this.send(path, {
      method: route.method.toUpperCase(),
      headers: hasBody ? { 'Content-Type': 'application/json' } : undefined,
      body: hasBody ? JSON.stringify(request.body) : undefined,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    if (response.status === 204) return undefined as z.infer<R['response']>;
    return (await response.json()) as z.infer<R['response']>;
  }

  /** Every item of a paged list, reading page after page until no `nextCursor`. */
  async allPages<T>(read: (cursor?: string) => Promise<Page<T>>): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await read(cursor);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }
}

/** `?a=1&b=2` of the defined values, or nothing. */
export function queryString(
  params?: Record<string, string | number | undefined>,
): string {
  const query = new URLSearchParams(
    Object.entries(params ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  ).toString();
  return query ? `?${query}` : '';
}
