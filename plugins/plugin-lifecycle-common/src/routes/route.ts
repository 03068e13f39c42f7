import { BasicPermission } from '@backstage/plugin-permission-common';
import { z } from 'zod';
import { PluginLifecyclePluginPermission } from '../permissions';

/** The permission a route checks. @public */
export type RoutePermission = BasicPermission | PluginLifecyclePluginPermission;

/** An HTTP method a route of the API answers. @public */
export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * One route of the plugin-lifecycle HTTP API, as the backend mounts it, the
 * OpenAPI document describes it and {@link PluginLifecycleClient} calls it.
 *
 * `path` is in OpenAPI form (`/plugins/{pluginId}`); every `{name}` in it
 * is a key of `params`.
 *
 * @public
 */
export interface RouteSpec<
  TParams extends z.ZodObject = z.ZodObject,
  TQuery extends z.ZodType | undefined = z.ZodType | undefined,
  TBody extends z.ZodType | undefined = z.ZodType | undefined,
  TResponse extends z.ZodType = z.ZodType,
  TPermission extends RoutePermission | undefined = RoutePermission | undefined,
> {
  method: RouteMethod;
  path: string;
  summary: string;
  /**
   * The permission the route checks (on the plugin the path names, when it
   * is a plugin permission). Some routes check another one as well, or pick
   * it by the request: `permissionNote` says how.
   */
  permission: TPermission;
  permissionNote?: string;
  /** Path parameters; an empty object when the path has none. */
  params: TParams;
  /** The query string, when the route reads one. */
  query: TQuery;
  /** The JSON body, when the route reads one. */
  body: TBody;
  /** Whether a body must be sent (the OpenAPI `requestBody.required`). */
  bodyRequired?: boolean;
  /** The body of the success answer (`successStatus`). */
  response: TResponse;
  /** The media type of the success answer: `application/json` unless said otherwise. */
  responseContentType?: 'application/json' | 'text/event-stream';
  /** The status of a success: 200 unless said otherwise. */
  successStatus?: number;
  /** What the success answer is, in words. */
  responseDescription: string;
  /**
   * Other answers: success statuses besides `successStatus` (with their
   * description) and error statuses (`'error'`: the Backstage error shape,
   * or a description of when it happens).
   */
  responses: Record<string, RouteAnswer>;
}

/**
 * Another answer of a route: a success with a description, or an error in
 * the Backstage error shape (with a description of when, if given).
 *
 * @public
 */
export type RouteAnswer = 'error' | { description: string; error?: boolean };

/**
 * A route of the registry, with its types kept (the client infers its
 * arguments and answers from them).
 *
 * @public
 */
export function defineRoute<
  TParams extends z.ZodObject,
  TQuery extends z.ZodType | undefined,
  TBody extends z.ZodType | undefined,
  TResponse extends z.ZodType,
  TPermission extends RoutePermission | undefined,
>(
  spec: RouteSpec<TParams, TQuery, TBody, TResponse, TPermission>,
): RouteSpec<TParams, TQuery, TBody, TResponse, TPermission> {
  return spec;
}

/** No path parameters. @public */
export const noParams = z.object({});

/**
 * A response body described by its TypeScript type and a name: the type
 * reaches the client, the name the OpenAPI document.
 *
 * @public
 */
export function described<T>(name: string): z.ZodType<T> {
  return z.custom<T>().meta({ description: name }) as z.ZodType<T>;
}

/**
 * The path of a route with its parameters filled in (each URL-encoded).
 *
 * @public
 */
export function routePath(
  route: Pick<RouteSpec, 'path'>,
  params: Record<string, string | number> = {},
): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) {
      throw new Error(
        `No value for the path parameter ${name} of ${route.path}`,
      );
    }
    return encodeURIComponent(String(value));
  });
}

/** The names of a route's path parameters, in order. @public */
export function pathParamNames(route: Pick<RouteSpec, 'path'>): string[] {
  return [...route.path.matchAll(/\{(\w+)\}/g)].map(m => m[1]);
}
