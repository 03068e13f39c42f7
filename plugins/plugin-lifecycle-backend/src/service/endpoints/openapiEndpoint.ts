import { Router } from 'express';
import { buildOpenApiDocument } from '../openapi';

/** Where the OpenAPI document is served (unauthenticated: see plugin.ts). */
export const OPENAPI_PATH = '/openapi.json';

/** Serves the OpenAPI document generated from the route registry. */
export function bindOpenApiEndpoint(router: Router) {
  // Built once: the registry does not change while the backend runs.
  const document = buildOpenApiDocument();
  router.get(OPENAPI_PATH, (_req, res) => {
    res.json(document);
  });
}
