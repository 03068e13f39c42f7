import type { RouteSpec } from '@internal/plugin-lifecycle-common';
import type { RequestHandler, Router } from 'express';

/** `/plugins/{pluginId}` as Express writes it: `/plugins/:pluginId`. */
export function expressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

/**
 * Mounts a route of the registry at its method and path: the one place an
 * endpoint file says which route it answers.
 */
export function mount(
  router: Router,
  route: Pick<RouteSpec, 'method' | 'path'>,
  ...handlers: RequestHandler<any>[]
): void {
  router[route.method](expressPath(route.path), ...handlers);
}
