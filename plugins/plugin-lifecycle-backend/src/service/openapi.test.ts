import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  RouteSpec,
  pathParamNames,
  pluginLifecycleRoutes,
  proxyRoute,
} from '@internal/plugin-lifecycle-common';
import express, { Router } from 'express';
import request from 'supertest';
import { z } from 'zod';
import { startLifecycleBackend } from '../__testUtils__/testBackend';
import { OPENAPI_PATH } from './endpoints/openapiEndpoint';
import { PROXY_EXPRESS_PATHS } from './endpoints/proxyEndpoint';

jest.setTimeout(30_000);

/** `/plugins/:pluginId` as OpenAPI writes it. */
const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

/**
 * Every method and path the router mounts, read from Express's own stack,
 * as the document would name them: the proxy's catch-all (any method on
 * two paths) stands for the methods the document lists on its one path.
 */
function mountedRoutes(router: Router): string[] {
  return (router.stack as any[])
    .filter(layer => layer.route)
    .flatMap(layer => {
      const { path, methods } = layer.route as {
        path: string | string[];
        methods: Record<string, boolean>;
      };
      if (methods._all) {
        expect(path).toEqual(PROXY_EXPRESS_PATHS);
        return proxyRoute.methods.map(m => `${m} ${proxyRoute.path}`);
      }
      return Object.keys(methods).map(
        m => `${m} ${openApiPath(path as string)}`,
      );
    })
    .filter(route => route !== `get ${OPENAPI_PATH}`)
    .sort();
}

describe('the OpenAPI document', () => {
  let router: Router;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    // The plugin's router as the plugin wires it, caught on its way to
    // the HTTP router service.
    const routers: Router[] = [];
    const httpRouter = createServiceFactory({
      service: coreServices.httpRouter,
      deps: { metadata: coreServices.pluginMetadata },
      factory: ({ metadata }) => ({
        use: (handler: any) => {
          if (metadata.getId() === 'plugin-lifecycle') routers.push(handler);
        },
        addAuthPolicy: () => {},
        addWebSocketHandler: () => {},
      }),
    });
    ({ stop } = await startLifecycleBackend({
      pluginId: 'sample',
      features: [httpRouter],
    }));
    // The plugin's router is the one serving the document (the test
    // backend's own middleware comes through the service as well).
    const served = routers.filter(r =>
      (r.stack as any[]).some(layer => layer.route?.path === OPENAPI_PATH),
    );
    if (served.length !== 1) {
      throw new Error(`${served.length} routers serve ${OPENAPI_PATH}`);
    }
    router = served[0];
  });

  afterAll(() => stop());

  it('served by the router lists exactly the routes the router mounts', async () => {
    const res = await request(express().use(router)).get(OPENAPI_PATH);
    expect(res.status).toBe(200);
    const documented = Object.entries(
      res.body.paths as Record<string, Record<string, unknown>>,
    )
      .flatMap(([path, methods]) =>
        Object.keys(methods).map(m => `${m} ${path}`),
      )
      .sort();
    expect(documented).toEqual(mountedRoutes(router));
    expect(documented.length).toBeGreaterThan(40);
  });

  it('documents every path parameter, request and answer of each route', async () => {
    const res = await request(express().use(router)).get(OPENAPI_PATH);
    for (const route of Object.values(pluginLifecycleRoutes) as RouteSpec[]) {
      const operation = res.body.paths[route.path][route.method];
      const name = `${route.method} ${route.path}`;
      expect([name, Object.keys(route.params.shape)]).toEqual([
        name,
        pathParamNames(route),
      ]);
      expect(route.response).toBeInstanceOf(z.ZodType);
      const success = String(route.successStatus ?? 200);
      expect([name, Object.keys(operation.responses)]).toEqual([
        name,
        expect.arrayContaining([success]),
      ]);
      const inPath = operation.parameters
        .filter((p: { in: string }) => p.in === 'path')
        .map((p: { name: string }) => p.name);
      expect([name, inPath]).toEqual([name, pathParamNames(route)]);
      expect([name, !!operation.requestBody]).toEqual([name, !!route.body]);
      // Whatever changes something but a heartbeat or cancel says its body.
      const bodiless = ['cancelOperation', 'heartbeat', 'deregisterService'];
      const key = Object.entries(pluginLifecycleRoutes).find(
        ([, r]) => r === route,
      )![0];
      expect([key, route.method === 'get' || bodiless.includes(key)]).toEqual([
        key,
        !route.body,
      ]);
    }
  });
});
