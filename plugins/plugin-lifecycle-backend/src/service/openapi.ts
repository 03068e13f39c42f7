import {
  RouteAnswer,
  RouteSpec,
  pathParamNames,
  pluginLifecycleRoutes,
  proxyRoute,
} from '@internal/plugin-lifecycle-common';
import { z } from 'zod';

type JsonSchema = { [key: string]: unknown };

const schema = (s: z.ZodType): JsonSchema =>
  z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as JsonSchema;

const error = {
  description: 'Error in the Backstage error shape',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              message: { type: 'string' },
            },
          },
          response: {
            type: 'object',
            properties: { statusCode: { type: 'integer' } },
          },
        },
      },
    },
  },
};

function answer(a: RouteAnswer) {
  if (a === 'error') return error;
  return a.error ? { ...error, description: a.description } : a;
}

/** A parameter of the document: its description lifted from its schema. */
function parameter(
  name: string,
  where: 'path' | 'query' | 'header',
  s: JsonSchema,
  required: boolean,
) {
  const { description, ...rest } = s;
  return {
    name,
    in: where,
    required,
    ...(typeof description === 'string' ? { description } : {}),
    schema: rest,
  };
}

/** The properties of an object schema as parameters, in order. */
function parameters(
  object: z.ZodType,
  where: 'path' | 'query' | 'header',
  names?: string[],
) {
  const json = schema(object) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  const properties = json.properties ?? {};
  return (names ?? Object.keys(properties)).map(name =>
    parameter(
      name,
      where,
      properties[name] ?? { type: 'string' },
      where === 'path' || (json.required ?? []).includes(name),
    ),
  );
}

function operation(route: RouteSpec) {
  const success = String(route.successStatus ?? 200);
  return {
    summary: route.summary,
    ...(route.permission
      ? { 'x-backstage-permission': route.permission.name }
      : {}),
    ...(route.permissionNote
      ? { 'x-backstage-permission-note': route.permissionNote }
      : {}),
    parameters: [
      ...parameters(route.params, 'path', pathParamNames(route)),
      ...(route.query ? parameters(route.query, 'query') : []),
    ],
    ...(route.body
      ? {
          requestBody: {
            ...(route.bodyRequired ? { required: true } : {}),
            content: { 'application/json': { schema: schema(route.body) } },
          },
        }
      : {}),
    responses: {
      [success]: {
        description: route.responseDescription,
        ...(success === '204'
          ? {}
          : {
              content: {
                [route.responseContentType ?? 'application/json']: {
                  schema: schema(route.response),
                },
              },
            }),
      },
      ...Object.fromEntries(
        Object.entries(route.responses).map(([status, a]) => [
          status,
          answer(a),
        ]),
      ),
    },
  };
}

function proxyOperation(method: string) {
  return {
    summary: proxyRoute.summary(method.toUpperCase()),
    'x-backstage-permission': (['get', 'head'].includes(method)
      ? proxyRoute.readPermission
      : proxyRoute.writePermission
    ).name,
    parameters: [
      ...parameters(proxyRoute.params, 'path', ['serviceName']),
      ...parameters(proxyRoute.headers, 'header'),
      ...parameters(proxyRoute.params, 'path', ['path']),
    ],
    responses: {
      default: { description: proxyRoute.responseDescription },
      ...Object.fromEntries(
        Object.entries(proxyRoute.responses).map(([status, a]) => [
          status,
          answer(a),
        ]),
      ),
    },
  };
}

/**
 * The OpenAPI document of the HTTP API, generated from the route registry
 * of plugin-lifecycle-common: the same schemas the router mounts and
 * validates with and the client calls, so the three cannot drift apart.
 */
export function buildOpenApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of Object.values(pluginLifecycleRoutes) as RouteSpec[]) {
    paths[route.path] = {
      ...paths[route.path],
      [route.method]: operation(route),
    };
  }
  paths[proxyRoute.path] = Object.fromEntries(
    proxyRoute.methods.map(m => [m, proxyOperation(m)]),
  );
  return {
    openapi: '3.1.0',
    info: { title: 'plugin-lifecycle', version: '0.1.0' },
    servers: [{ url: '/api/plugin-lifecycle' }],
    paths,
  };
}
