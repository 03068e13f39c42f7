import type { Server } from 'node:http';
import { permissionsServiceFactory } from '@backstage/backend-defaults/permissions';
import {
  BackstageUserPrincipal,
  coreServices,
  createBackendModule,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { parseEntityRef } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  AuthorizeResult,
  Permission,
  isResourcePermission,
} from '@backstage/plugin-permission-common';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import {
  DEPLOYMENT_ACTIONS,
  PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
  pluginLifecycleConfigRevealPermission,
  pluginLifecycleConfigurePermission,
  pluginLifecycleDeployPermission,
  pluginLifecycleDeploymentApprovePermission,
  pluginLifecycleOperatePermission,
  pluginLifecyclePermissions,
  pluginLifecycleProxyWritePermission,
  pluginLifecycleReadPermission,
  pluginLifecycleServiceRegisterPermission,
} from '@internal/plugin-lifecycle-common';
import permissionPlugin from '@backstage/plugin-permission-backend';
import request from 'supertest';
import { makeTempDir } from '../__testUtils__/sampleArtifacts';
import { waitForOperation } from '../__testUtils__/testBackend';
import { pluginLifecyclePlugin } from '../plugin';
import { buildOpenApiDocument } from '../service/openapi';
import {
  createPluginLifecyclePluginConditionalDecision,
  pluginLifecyclePluginConditions,
} from './rules';

jest.setTimeout(120_000);

/**
 * The policy under test decides by the user's name:
 * - `allow~<permission>~<permission>...`: exactly those permissions;
 * - `owner`: the plugin permissions but reveal, on plugins whose catalog
 *   entity it owns (IS_ENTITY_OWNER); nothing else;
 * - `tenant-<id>`: read on plugins of that tenant (HAS_TENANT).
 * It runs in the real permission backend, which resolves conditional
 * decisions through this plugin's permission integration.
 */
const matrixPolicy = createBackendModule({
  pluginId: 'permission',
  moduleId: 'matrix-policy',
  register(reg) {
    reg.registerInit({
      deps: { policy: policyExtensionPoint },
      async init({ policy }) {
        policy.setPolicy({
          async handle(req, user) {
            const name = user
              ? parseEntityRef(user.info.userEntityRef).name
              : '';
            const { permission } = req;
            if (
              name === 'owner' &&
              isResourcePermission(
                permission,
                PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
              ) &&
              permission.name !== pluginLifecycleConfigRevealPermission.name
            ) {
              return createPluginLifecyclePluginConditionalDecision(
                permission,
                pluginLifecyclePluginConditions.isEntityOwner({
                  claims: user!.info.ownershipEntityRefs,
                }),
              );
            }
            if (
              name.startsWith('tenant-') &&
              permission.name === pluginLifecycleReadPermission.name
            ) {
              return createPluginLifecyclePluginConditionalDecision(
                pluginLifecycleReadPermission,
                pluginLifecyclePluginConditions.hasTenant({
                  tenants: [name.slice('tenant-'.length)],
                }),
              );
            }
            const allowed = name.startsWith('allow~')
              ? name.split('~').slice(1)
              : [];
            return {
              result: allowed.includes(permission.name)
                ? AuthorizeResult.ALLOW
                : AuthorizeResult.DENY,
            };
          },
        });
      },
    });
  },
});

/**
 * The mock auth service, except that a token a plugin sends on behalf of a
 * user names that plugin as its actor, as real tokens do (the permission
 * backend refuses resource permissions without a resource ref from a user
 * who calls it directly, which the mock's tokens would make every caller).
 */
const authWithActors = createServiceFactory({
  service: coreServices.auth,
  deps: { plugin: coreServices.pluginMetadata },
  factory({ plugin }) {
    const auth = mockServices.auth({ pluginId: plugin.getId() });
    const issue = auth.getPluginRequestToken.bind(auth);
    auth.getPluginRequestToken = async options => {
      const principal = options.onBehalfOf.principal as
        | BackstageUserPrincipal
        | { type: 'service' };
      if (principal.type !== 'user') return issue(options);
      return {
        token: mockCredentials.user.token(principal.userEntityRef, {
          actor: { subject: `plugin:${plugin.getId()}` },
        }),
      };
    };
    return auth;
  },
});

const userAllowed = (...permissions: Permission[]) =>
  mockCredentials.user.header(
    `user:default/allow~${permissions.map(p => p.name).join('~')}`,
  );

const read = pluginLifecycleReadPermission;
const operate = pluginLifecycleOperatePermission;
const deploy = pluginLifecycleDeployPermission;
const configure = pluginLifecycleConfigurePermission;
const reveal = pluginLifecycleConfigRevealPermission;
const proxyWrite = pluginLifecycleProxyWritePermission;
const register = pluginLifecycleServiceRegisterPermission;
const approve = pluginLifecycleDeploymentApprovePermission;

type Route = {
  method: string;
  /** As in the OpenAPI document. */
  path: string;
  /** What the request fills in: path parameters, query, body. */
  url?: string;
  body?: unknown;
  /** Every permission the request needs (none: open to everyone). */
  needs: Permission[];
};

/** Each route as the OpenAPI document lists it, and what it needs. */
function routes(ids: { operationId: string }): Route[] {
  const plugin = '/plugins/matrix';
  const service = {
    serviceName: 'matrix-registered',
    host: '127.0.0.1',
    port: 1,
  };
  const proxyMethods = [
    'get',
    'head',
    'put',
    'post',
    'patch',
    'delete',
    'options',
  ];
  const all: Array<Omit<Route, 'url'> & { url?: string }> = [
    { method: 'get', path: '/plugins', needs: [read] },
    { method: 'get', path: '/plugins/{pluginId}', needs: [read] },
    { method: 'get', path: '/plugins/{pluginId}/history', needs: [read] },
    {
      method: 'get',
      path: '/plugins/{pluginId}/catalog-sync',
      needs: [read],
    },
    {
      method: 'post',
      path: '/plugins/{pluginId}/install',
      body: { version: 'not a version' },
      needs: [deploy],
    },
    {
      method: 'post',
      path: '/plugins/{pluginId}/update',
      body: { version: '' },
      needs: [deploy],
    },
    {
      method: 'post',
      path: '/plugins/{pluginId}/update/{operationId}/rollback',
      url: `${plugin}/update/${ids.operationId}/rollback`,
      body: { priority: 'not a number' },
      needs: [deploy],
    },
    // Bodies that fail validation: allowed callers get a 400 and nothing runs.
    ...['start', 'stop', 'restart'].map(a => ({
      method: 'post',
      path: `/plugins/{pluginId}/${a}`,
      body: { unknown: true },
      needs: [operate],
    })),
    {
      method: 'post',
      path: '/plugins/{pluginId}/uninstall',
      body: { unknown: true },
      needs: [deploy],
    },
    // Maintenance runs the instances (operate); configure changes what
    // they run with, as a configuration write does (configure).
    ...['maintenance-on', 'maintenance-off'].map(a => ({
      method: 'post',
      path: `/plugins/{pluginId}/${a}`,
      body: { unknown: true },
      needs: [operate],
    })),
    {
      method: 'post',
      path: '/plugins/{pluginId}/configure',
      body: { unknown: true },
      needs: [configure],
    },
    { method: 'get', path: '/plugins/{pluginId}/operations', needs: [read] },
    {
      method: 'post',
      path: '/operations/batch',
      body: {
        operations: [{ pluginId: 'matrix', action: 'restart' }],
        priority: 'not a number',
      },
      needs: [operate],
    },
    {
      method: 'post',
      path: '/operations/{operationId}/cancel',
      // An install: cancelling it needs what queueing it did.
      url: `/operations/${ids.operationId}/cancel`,
      needs: [deploy],
    },
    {
      method: 'get',
      path: '/operations/{operationId}',
      url: `/operations/${ids.operationId}`,
      needs: [read],
    },
    { method: 'get', path: '/config/environments', needs: [read] },
    { method: 'get', path: '/config/export', needs: [configure] },
    {
      method: 'post',
      path: '/config/import',
      body: { not: 'an export' },
      needs: [configure],
    },
    {
      method: 'get',
      path: '/plugins/{pluginId}/config/{environment}',
      url: `${plugin}/config/development`,
      needs: [read],
    },
    {
      method: 'get',
      path: '/plugins/{pluginId}/config/{environment}',
      url: `${plugin}/config/development?reveal=true`,
      needs: [read, reveal],
    },
    ...['put', 'patch'].map(method => ({
      method,
      path: '/plugins/{pluginId}/config/{environment}',
      url: `${plugin}/config/development`,
      body: { entries: 'not a list' },
      needs: [configure],
    })),
    {
      method: 'get',
      path: '/plugins/{pluginId}/config/{layer}/versions',
      url: `${plugin}/config/development/versions`,
      needs: [read],
    },
    {
      method: 'get',
      path: '/plugins/{pluginId}/config/{layer}/versions/{version}',
      url: `${plugin}/config/development/versions/1`,
      needs: [read],
    },
    {
      method: 'get',
      path: '/plugins/{pluginId}/config/{layer}/versions/{version}',
      url: `${plugin}/config/development/versions/1?reveal=true`,
      needs: [read, reveal],
    },
    {
      method: 'get',
      path: '/plugins/{pluginId}/config/{layer}/diff',
      url: `${plugin}/config/development/diff?from=1&to=2`,
      needs: [read],
    },
    {
      method: 'post',
      path: '/plugins/{pluginId}/config/{layer}/rollback',
      url: `${plugin}/config/development/rollback`,
      body: { toVersion: 'x' },
      needs: [configure],
    },
    {
      method: 'get',
      path: '/plugins/{pluginId}/config/{environment}/watch',
      url: `${plugin}/config/development/watch?afterVersion=0&timeoutMs=1000`,
      needs: [read],
    },
    // A stream: ended by the server after timeoutMs.
    {
      method: 'get',
      path: '/events',
      url: '/events?timeoutMs=50',
      needs: [read],
    },
    { method: 'get', path: '/metrics/system', needs: [read] },
    { method: 'get', path: '/metrics/services', needs: [read] },
    { method: 'get', path: '/plugins/{pluginId}/health', needs: [read] },
    {
      method: 'get',
      path: '/plugins/{pluginId}/metrics/versions',
      needs: [read],
    },
    { method: 'get', path: '/plugins/{pluginId}/versions', needs: [read] },
    {
      method: 'put',
      path: '/plugins/{pluginId}/probes',
      body: { probes: 'not a list' },
      needs: [configure],
    },
    { method: 'get', path: '/services', needs: [read] },
    {
      method: 'post',
      path: '/services',
      body: { ...service, port: 'x' },
      needs: [register],
    },
    {
      method: 'post',
      path: '/services/batch',
      body: { services: [service] },
      needs: [register],
    },
    {
      method: 'post',
      path: '/services/heartbeats',
      body: { serviceIds: ['unknown'] },
      needs: [register],
    },
    ...['patch', 'delete'].map(method => ({
      method,
      path: '/services/{serviceId}',
      url: '/services/unknown',
      body: method === 'patch' ? { weight: 1 } : undefined,
      needs: [register],
    })),
    {
      method: 'post',
      path: '/services/{serviceId}/heartbeat',
      url: '/services/unknown/heartbeat',
      needs: [register],
    },
    {
      method: 'get',
      path: '/services/{serviceName}/resolve',
      url: '/services/matrix/resolve',
      needs: [read],
    },
    ...proxyMethods.map(method => ({
      method,
      path: '/proxy/{serviceName}/{path}',
      url: '/proxy/matrix/anything',
      needs: ['get', 'head'].includes(method) ? [read] : [proxyWrite],
    })),
    { method: 'get', path: '/deployments', needs: [read] },
    // An unknown deployment needs the permission on every plugin (then 404).
    {
      method: 'get',
      path: '/deployments/{deploymentId}',
      url: '/deployments/unknown',
      needs: [read],
    },
    { method: 'get', path: '/plugins/{pluginId}/deployments', needs: [read] },
    ...DEPLOYMENT_ACTIONS.map(action => ({
      method: 'post',
      path: '/deployments/{deploymentId}/{action}',
      url: `/deployments/unknown/${action}`,
      body: { reason: 'matrix' },
      // Approvers are their own role: deploy does not approve.
      needs: action === 'approve' || action === 'reject' ? [approve] : [deploy],
    })),
    { method: 'get', path: '/openapi.json', needs: [] },
  ];
  return all.map(r => ({
    ...r,
    url: r.url ?? r.path.replace('{pluginId}', 'matrix'),
  }));
}

describe('permissions', () => {
  let server: Server;
  let operationId: string;
  const admin = userAllowed(...pluginLifecyclePermissions);

  const call = (route: Route, authorization: string) => {
    const req = (request(server) as any)
      [route.method](`/api/plugin-lifecycle${route.url}`)
      .set('Authorization', authorization);
    return route.body === undefined ? req : req.send(route.body);
  };

  beforeAll(async () => {
    const backend = await startTestBackend({
      features: [
        pluginLifecyclePlugin,
        permissionPlugin,
        matrixPolicy,
        // The real permissions service: it asks the permission backend.
        permissionsServiceFactory,
        authWithActors,
        catalogServiceMock.factory({
          entities: [
            {
              apiVersion: 'backstage.io/v1alpha1',
              kind: 'Component',
              metadata: { name: 'matrix', namespace: 'default' },
              spec: { owner: 'user:default/owner', type: 'service' },
              relations: [{ type: 'ownedBy', targetRef: 'user:default/owner' }],
            },
            {
              apiVersion: 'backstage.io/v1alpha1',
              kind: 'Component',
              metadata: { name: 'other', namespace: 'default' },
              // No relations yet (not processed): spec.owner counts.
              spec: { owner: 'someone-else', type: 'service' },
            },
          ],
        }),
        mockServices.rootConfig.factory({
          data: {
            permission: { enabled: true },
            pluginLifecycle: { dataDir: makeTempDir('plugin-lifecycle-perm-') },
          },
        }),
      ],
    });
    server = backend.server;

    for (const [id, entityRef] of [
      ['matrix', 'component:default/matrix'],
      ['other', 'component:default/other'],
    ]) {
      const res = await request(server)
        .post(`/api/plugin-lifecycle/plugins/${id}/install`)
        .set('Authorization', admin)
        .send({
          version: '1.0.0',
          entityRef,
          artifact: {
            type: 'external',
            endpoints: [{ host: '127.0.0.1', port: 9 }],
          },
        });
      if (res.status !== 202) {
        throw new Error(`install: ${res.status} ${res.text}`);
      }
      const done = await waitForOperation(server, admin, res.body.operationId);
      if (done.status !== 'succeeded') {
        throw new Error(`install: ${done.status} ${done.error}`);
      }
      operationId ??= res.body.operationId;
    }
  });

  it('lists every route of the OpenAPI document', () => {
    const documented = Object.entries(buildOpenApiDocument().paths).flatMap(
      ([path, methods]) =>
        Object.keys(methods as object).map(m => `${m} ${path}`),
    );
    const tested = new Set(
      routes({ operationId: 'x' }).map(r => `${r.method} ${r.path}`),
    );
    // The document itself is served too.
    documented.push('get /openapi.json');
    expect([...tested].sort()).toEqual([...new Set(documented)].sort());
  });

  it('allows each route with exactly the permissions it needs', async () => {
    const unexpected: string[] = [];
    const everyPermission = [...pluginLifecyclePermissions, undefined];
    for (const route of routes({ operationId })) {
      const what = `${route.method.toUpperCase()} ${route.url}`;
      // Each permission alone, and none: allowed only where it is all the route needs.
      for (const only of everyPermission) {
        const res = await call(route, userAllowed(...(only ? [only] : [])));
        const allowed =
          route.needs.length === 0 ||
          (route.needs.length === 1 && route.needs[0] === only);
        if ((res.status === 403) === allowed || res.status === 401) {
          unexpected.push(
            `${what} with only ${only?.name ?? 'nothing'}: ${
              res.status
            } ${res.text.slice(0, 1200)}`,
          );
        }
      }
      // All it needs is enough; one fewer is not.
      if (route.needs.length > 1) {
        const res = await call(route, userAllowed(...route.needs));
        if (res.status === 403)
          unexpected.push(`${what} with all it needs: 403`);
        for (const missing of route.needs) {
          const rest = route.needs.filter(p => p !== missing);
          const denied = await call(route, userAllowed(...rest));
          if (denied.status !== 403) {
            unexpected.push(
              `${what} without ${missing.name}: ${denied.status}`,
            );
          }
        }
      }
    }
    expect(unexpected).toEqual([]);
  });

  it('a 403 names the permission that is missing', async () => {
    const res = await request(server)
      .post('/api/plugin-lifecycle/plugins/matrix/stop')
      .set('Authorization', userAllowed(read))
      .send({});
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({
      name: 'NotAllowedError',
      message: 'Not allowed: plugin-lifecycle.plugin.operate',
    });
  });

  describe('conditional decisions', () => {
    const owner = mockCredentials.user.header('user:default/owner');

    it('IS_ENTITY_OWNER: the owner of a plugin entity acts on that plugin only', async () => {
      const mine = await request(server)
        .post('/api/plugin-lifecycle/plugins/matrix/stop')
        .set('Authorization', owner)
        .send({ unknown: true });
      expect(mine.status).toBe(400);
      const theirs = await request(server)
        .post('/api/plugin-lifecycle/plugins/other/stop')
        .set('Authorization', owner)
        .send({ unknown: true });
      expect(theirs.status).toBe(403);

      const get = (id: string) =>
        request(server)
          .get(`/api/plugin-lifecycle/plugins/${id}`)
          .set('Authorization', owner);
      expect((await get('matrix')).status).toBe(200);
      expect((await get('other')).status).toBe(403);
      // Unknown plugins have no owner: refused, and their existence is not told.
      expect((await get('nothing-here')).status).toBe(403);

      // The policy does not give owners reveal.
      const revealed = await request(server)
        .get(
          '/api/plugin-lifecycle/plugins/matrix/config/development?reveal=true',
        )
        .set('Authorization', owner);
      expect(revealed.status).toBe(403);
    });

    it('IS_ENTITY_OWNER: an owner installs a new plugin only for an entity it owns', async () => {
      const install = (id: string, body: object) =>
        request(server)
          .post(`/api/plugin-lifecycle/plugins/${id}/install`)
          .set('Authorization', owner)
          .send({
            version: '1.0.0',
            artifact: {
              type: 'external',
              endpoints: [{ host: '127.0.0.1', port: 9 }],
            },
            ...body,
          });
      expect(
        (await install('theirs', { entityRef: 'component:default/other' }))
          .status,
      ).toBe(403);
      expect((await install('nobodys', {})).status).toBe(403);
      const mine = await install('mine', {
        entityRef: 'component:default/matrix',
      });
      expect(mine.status).toBe(202);
      // Then it is an owned plugin like any other.
      const done = await waitForOperation(server, owner, mine.body.operationId);
      expect(done.status).toBe('succeeded');

      // In a batch, the later actions on a plugin it installs count it as owned.
      const batch = (entityRef: string) =>
        request(server)
          .post('/api/plugin-lifecycle/operations/batch')
          .set('Authorization', owner)
          .send({
            operations: [
              {
                pluginId: `batch-${entityRef.split('/')[1]}`,
                action: 'install',
                install: {
                  version: '1.0.0',
                  entityRef,
                  artifact: {
                    type: 'external',
                    endpoints: [{ host: '127.0.0.1', port: 9 }],
                  },
                },
              },
              { pluginId: `batch-${entityRef.split('/')[1]}`, action: 'start' },
            ],
          });
      expect((await batch('component:default/other')).status).toBe(403);
      expect((await batch('component:default/matrix')).status).toBe(202);
    });

    it('lists only the plugins the conditions allow', async () => {
      const list = async (authorization: string) =>
        (
          await request(server)
            .get('/api/plugin-lifecycle/plugins')
            .set('Authorization', authorization)
            .expect(200)
        ).body.items
          .map((p: { id: string }) => p.id)
          .sort();
      const all = await list(admin);
      expect(all).toEqual(expect.arrayContaining(['matrix', 'other']));
      // Every plugin but the one whose entity someone else owns.
      expect(await list(owner)).toEqual(
        all.filter((id: string) => id !== 'other'),
      );
    });

    it('HAS_TENANT: read on the plugins of a tenant', async () => {
      const inDefault = mockCredentials.user.header(
        'user:default/tenant-default',
      );
      const elsewhere = mockCredentials.user.header('user:default/tenant-b');
      const get = (authorization: string) =>
        request(server)
          .get('/api/plugin-lifecycle/plugins/other')
          .set('Authorization', authorization);
      expect((await get(inDefault)).status).toBe(200);
      expect((await get(elsewhere)).status).toBe(403);
      const list = await request(server)
        .get('/api/plugin-lifecycle/plugins')
        .set('Authorization', elsewhere);
      expect(list.body.items).toEqual([]);
    });

    it('a conditional read is not enough for routes over every plugin', async () => {
      const res = await request(server)
        .get('/api/plugin-lifecycle/metrics/system')
        .set('Authorization', owner);
      expect(res.status).toBe(403);
    });
  });

  it('service principals are not asked about (other plugins, scaffolder actions)', async () => {
    const res = await request(server)
      .post('/api/plugin-lifecycle/plugins/matrix/stop')
      .set('Authorization', mockCredentials.service.header())
      .send({ unknown: true });
    expect(res.status).toBe(400);
  });
});
