import { MiddlewareFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { mockServices } from '@backstage/backend-test-utils';
import { NotAllowedError, NotFoundError } from '@backstage/errors';
import {
  ProbeDefinition,
  pluginLifecycleConfigurePermission,
  pluginLifecycleReadPermission,
} from '@internal/plugin-lifecycle-common';
import express, { Request } from 'express';
import Router from 'express-promise-router';
import request from 'supertest';
import type { PluginHealth } from '../../engines/health/HealthMonitor';
import { TenantScope } from '../../domain/tenancy';
import { HealthEndpointsContext, bindHealthEndpoints } from './healthEndpoints';

const HEALTH: PluginHealth = {
  pluginId: 'sample',
  verdict: 'healthy',
  counts: { healthy: 1 },
  probes: [],
  instances: [
    {
      targetId: 'sample-1',
      instanceId: 'sample-1',
      host: '127.0.0.1',
      port: 4001,
      verdict: 'healthy',
      healthScore: 1,
      ready: true,
      live: true,
      reasons: [],
      reportedBy: 'replica-a',
      probes: [],
    },
  ],
  generatedAt: '2026-11-27T10:00:00.000Z',
};

describe('health routes', () => {
  const calls: Array<{ what: string; args: unknown[] }> = [];
  const audits: Array<{ eventId: string; meta: Record<string, string> }> = [];
  let denied: string | undefined;
  const scope: TenantScope = { tenants: ['team-a'] };

  const health: HealthEndpointsContext['health'] = {
    getPluginHealth: async (pluginId, options) => {
      calls.push({ what: 'getPluginHealth', args: [pluginId, options] });
      if (pluginId !== 'sample') {
        throw new NotFoundError(`No plugin with id '${pluginId}'`);
      }
      return HEALTH;
    },
    registerPluginProbes: async (pluginId, probes, options) => {
      calls.push({
        what: 'registerPluginProbes',
        args: [pluginId, probes, options],
      });
      return probes;
    },
  };

  const authorize = async (_req: Request, permission: { name: string }) => {
    if (permission.name === denied) {
      throw new NotAllowedError(`Not allowed: ${permission.name}`);
    }
    return { actor: 'user:default/tester', scope };
  };

  const app = express();
  const router = Router();
  router.use(express.json());
  bindHealthEndpoints(router, {
    health,
    authorize,
    authorizeList: async (req, permission) => ({
      ...(await authorize(req, permission)),
      filter: async items => items,
    }),
    audited: async (req, access, eventId, meta, fn) => {
      const [first] = Array.isArray(access) ? access : [access];
      const caller = await authorize(req, first.permission);
      audits.push({ eventId, meta });
      return fn(caller);
    },
  });
  app.use(router);
  app.use(
    MiddlewareFactory.create({
      config: mockServices.rootConfig(),
      logger: mockServices.logger.mock(),
    }).error(),
  );

  beforeEach(() => {
    calls.length = 0;
    audits.length = 0;
    denied = undefined;
  });

  const readiness: ProbeDefinition = {
    name: 'ready',
    type: 'readiness',
    method: 'http',
    http: { path: '/ready' },
    periodSeconds: 5,
  };

  it('shows a plugin health in the caller scope', async () => {
    const res = await request(app).get('/plugins/sample/health?recent=3');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(HEALTH);
    expect(calls).toEqual([
      {
        what: 'getPluginHealth',
        args: ['sample', { scope, recentPerProbe: 3 }],
      },
    ]);
  });

  it('answers 404 for a plugin the monitor does not know', async () => {
    const res = await request(app).get('/plugins/other/health');
    expect(res.status).toBe(404);
    expect(res.body.error.message).toBe("No plugin with id 'other'");
  });

  it('answers 403 without the read permission', async () => {
    denied = pluginLifecycleReadPermission.name;
    const res = await request(app).get('/plugins/sample/health');
    expect(res.status).toBe(403);
    expect(calls).toEqual([]);
  });

  it('refuses a query parameter that is not a number', async () => {
    const res = await request(app).get('/plugins/sample/health?recent=many');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatchInlineSnapshot(
      `"Invalid query: recent: must be a whole number in decimal digits"`,
    );
  });

  it('sets the probes of a plugin, audited', async () => {
    const res = await request(app)
      .put('/plugins/sample/probes')
      .send({ probes: [readiness] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ pluginId: 'sample', probes: [readiness] });
    expect(audits).toEqual([
      { eventId: 'probes-set', meta: { pluginId: 'sample' } },
    ]);
    expect(calls).toEqual([
      {
        what: 'registerPluginProbes',
        args: ['sample', [readiness], { scope }],
      },
    ]);
  });

  it.each([
    [
      'a probe without its method settings',
      { probes: [{ name: 'ready', type: 'readiness', method: 'http' }] },
    ],
    [
      'a probe of an unknown type',
      { probes: [{ name: 'up', type: 'sometimes', method: 'tcp' }] },
    ],
    ['an unknown field', { probes: [{ ...readiness, retries: 3 }] }],
    ['no probes at all', {}],
  ])('answers 400 for %s', async (_what, body) => {
    const res = await request(app).put('/plugins/sample/probes').send(body);
    expect(res.status).toBe(400);
    expect(calls).toEqual([]);
    expect(res.body.error.name).toBe('InputError');
  });

  it('says what is wrong with the probes', async () => {
    const messages = [];
    for (const probes of [
      [{ name: 'ready', type: 'readiness', method: 'http' }],
      [{ name: 'alive', type: 'liveness', method: 'exec' }],
      [{ ...readiness, periodSeconds: 0 }],
      // ~560 probes a second from one probe, before the floor.
      [{ ...readiness, periodSeconds: 1e-9 }],
      Array.from({ length: 65 }, (_, i) => ({ ...readiness, name: `p${i}` })),
    ]) {
      const res = await request(app)
        .put('/plugins/sample/probes')
        .send({ probes });
      messages.push(res.body.error.message);
    }
    expect(messages).toMatchInlineSnapshot(`
      [
        "Invalid probes: probes.0.http: a http probe needs its "http" settings",
        "Invalid probes: probes.0.exec: a exec probe needs its "exec" settings",
        "Invalid probes: probes.0.periodSeconds: must be at least 0.01 (seconds)",
        "Invalid probes: probes.0.periodSeconds: must be at least 0.01 (seconds)",
        "Invalid probes: probes: at most 64 probes",
      ]
    `);
  });

  it('answers 403 without the configure permission', async () => {
    denied = pluginLifecycleConfigurePermission.name;
    const res = await request(app)
      .put('/plugins/sample/probes')
      .send({ probes: [readiness] });
    expect(res.status).toBe(403);
    expect(calls).toEqual([]);
  });
});
