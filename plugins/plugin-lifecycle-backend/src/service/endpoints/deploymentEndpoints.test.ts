import { MiddlewareFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { mockServices } from '@backstage/backend-test-utils';
import { NotAllowedError } from '@backstage/errors';
import {
  pluginLifecycleDeployPermission,
  pluginLifecycleDeploymentApprovePermission,
  pluginLifecycleReadPermission,
} from '@internal/plugin-lifecycle-common';
import express, { Request } from 'express';
import Router from 'express-promise-router';
import request from 'supertest';
import { createTestDatabases } from '../../__testUtils__/databases';
import { startDeploymentSystem } from '../../__testUtils__/deploymentSystem';
import { TenantScope } from '../../domain/tenancy';
import type { Access } from '../RouteAuthorizer';
import { bindDeploymentEndpoints } from './deploymentEndpoints';

jest.setTimeout(60_000);

const databases = createTestDatabases();

const read = pluginLifecycleReadPermission.name;
const deploy = pluginLifecycleDeployPermission.name;
const approve = pluginLifecycleDeploymentApprovePermission.name;

describe.each(databases.eachSupportedId())(
  'deployment routes on %s',
  databaseId => {
    let ctx: Awaited<ReturnType<typeof startDeploymentSystem>>;
    let app: express.Express;
    /** The permissions the caller has (by name), and what it was asked. */
    let allowed: string[];
    /** Plugins a conditional read decision leaves out of lists. */
    let hidden: string[];
    const checks: Array<{ permission: string; resourceRef?: string }> = [];
    const audits: Array<{ eventId: string; meta: Record<string, string> }> = [];
    const scope: TenantScope = { tenants: ['default'] };

    const authorize = async (
      _req: Request,
      permission: Access['permission'],
      resourceRef?: string,
    ) => {
      checks.push({ permission: permission.name, resourceRef });
      if (!allowed.includes(permission.name)) {
        throw new NotAllowedError(`Not allowed: ${permission.name}`);
      }
      return { actor: 'user:default/tester', scope };
    };

    beforeAll(async () => {
      ctx = await startDeploymentSystem(databases, databaseId);
      const router = Router();
      router.use(express.json());
      bindDeploymentEndpoints(router, {
        system: ctx.system,
        authorize,
        authorizeList: async (req, permission) => ({
          ...(await authorize(req, permission)),
          filter: async items => items.filter(p => !hidden.includes(p.id)),
        }),
        audited: async (req, access, eventId, meta, fn) => {
          const [first] = Array.isArray(access) ? access : [access];
          const caller = await authorize(
            req,
            first.permission,
            first.resourceRef,
          );
          audits.push({ eventId, meta });
          return fn(caller);
        },
      });
      app = express().use(router);
      app.use(
        MiddlewareFactory.create({
          config: mockServices.rootConfig(),
          logger: mockServices.logger.mock(),
        }).error(),
      );
    });

    afterAll(async () => {
      await ctx?.stop();
    });

    beforeEach(() => {
      allowed = [read, deploy, approve];
      hidden = [];
      checks.length = 0;
      audits.length = 0;
    });

    afterEach(async () => {
      const active = await ctx.store.activeForPlugin('sample');
      if (active) {
        await ctx.store.change(active.id, () => ({ phase: 'aborted' }));
      }
    });

    const act = (id: string, action: string, body?: unknown) => {
      const req = request(app).post(`/deployments/${id}/${action}`);
      return body === undefined ? req : req.send(body as object);
    };

    it('reads a deployment, checked on its plugin', async () => {
      const id = await ctx.seed({});
      const res = await request(app).get(`/deployments/${id}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id,
        pluginId: 'sample',
        phase: 'awaiting-approval',
      });
      expect(res.body).not.toHaveProperty('stepState');
      expect(checks).toEqual([{ permission: read, resourceRef: 'sample' }]);

      const list = await request(app).get('/plugins/sample/deployments');
      expect(list.status).toBe(200);
      expect(list.body.items[0].id).toBe(id);
      const active = await request(app).get('/deployments?active=true');
      expect(active.body.items.map((d: { id: string }) => d.id)).toEqual([id]);
    });

    it('pages a list with nextCursor', async () => {
      const older = await ctx.seed({ phase: 'failed' });
      const newer = await ctx.seed({ phase: 'failed' });
      const first = await request(app).get(
        '/plugins/sample/deployments?limit=1&phase=failed',
      );
      expect(first.body.items.map((d: { id: string }) => d.id)).toEqual([
        newer,
      ]);
      const second = await request(app).get(
        `/plugins/sample/deployments?limit=1&phase=failed&cursor=${first.body.nextCursor}`,
      );
      expect(second.body.items.map((d: { id: string }) => d.id)).toEqual([
        older,
      ]);
    });

    it('400: an unknown action, a bad body, a bad query', async () => {
      const id = await ctx.seed({});
      const unknown = await act(id, 'explode', {});
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.message).toBe(
        'Invalid path: action: must be one of approve, reject, promote, pause, resume, abort, retry, rollback',
      );
      const badBody = await act(id, 'approve', { reason: 7, extra: true });
      expect(badBody.status).toBe(400);
      expect(badBody.body.error.message).toBe(
        'Invalid approve request: reason: Invalid input: expected string, received number; Unrecognized key: "extra"',
      );
      const notAnObject = await act(id, 'approve', [1]);
      expect(notAnObject.status).toBe(400);
      const badQuery = await request(app).get('/deployments?phase=sideways');
      expect(badQuery.status).toBe(400);
      expect(badQuery.body.error.message).toBe(
        'Invalid query: phase: Invalid option: expected one of "pending"|"progressing"|"paused"|"awaiting-approval"|"rolling-back"|"succeeded"|"rolled-back"|"aborted"|"failed"',
      );
      // Nothing decided. (Not the revision: the system's controller may
      // claim the waiting deployment meanwhile, which bumps it.)
      const after = (await ctx.store.get(id))!;
      expect(after.phase).toBe('awaiting-approval');
      expect(after.currentStep).toBe(2);
      expect(after.approvals).toEqual([
        { step: 2, gate: 'promotion', requestedAt: '2026-12-04T10:00:00.000Z' },
      ]);
    });

    it('403: approve needs deployment.approve, deploy is not enough', async () => {
      const id = await ctx.seed({});
      allowed = [read, deploy];
      for (const action of ['approve', 'reject']) {
        const res = await act(id, action, { reason: 'lgtm' });
        expect(res.status).toBe(403);
        expect(res.body.error.message).toBe(`Not allowed: ${approve}`);
      }
      expect(checks).toEqual([
        { permission: approve, resourceRef: 'sample' },
        { permission: approve, resourceRef: 'sample' },
      ]);
      // And the approve permission alone does not promote or abort.
      allowed = [approve];
      expect((await act(id, 'abort', {})).status).toBe(403);
      expect((await ctx.store.get(id))!.phase).toBe('awaiting-approval');
      const approved = await act(id, 'approve', { reason: 'lgtm' });
      expect(approved.status).toBe(200);
      expect(approved.body.approvals[0]).toMatchObject({
        decision: 'approved',
        decidedBy: 'user:default/tester',
        reason: 'lgtm',
      });
      expect(audits).toEqual([
        {
          eventId: 'deployment-action',
          meta: { deploymentId: id, action: 'approve' },
        },
      ]);
    });

    it('404: an unknown deployment, after the permission on every plugin', async () => {
      const res = await act('no-such-deployment', 'promote', {});
      expect(res.status).toBe(404);
      expect(res.body.error.message).toBe(
        "No deployment with id 'no-such-deployment'",
      );
      expect(checks).toEqual([{ permission: deploy, resourceRef: undefined }]);
      expect((await request(app).get('/deployments/nope')).status).toBe(404);
      expect(
        (await request(app).get('/plugins/no-plugin/deployments')).status,
      ).toBe(404);
    });

    it('409: promote of a succeeded deployment', async () => {
      const id = await ctx.seed({ phase: 'succeeded', currentStep: 5 });
      const res = await act(id, 'promote', {});
      expect(res.status).toBe(409);
      expect(res.body.error.message).toBe(
        `deployment ${id} has succeeded: nothing to promote`,
      );
    });

    it('200 with the deployment as the action left it', async () => {
      const id = await ctx.seed({ phase: 'progressing', currentStep: 1 });
      const paused = await act(id, 'pause', { reason: 'lunch' });
      expect(paused.status).toBe(200);
      expect(paused.body).toMatchObject({
        phase: 'paused',
        message: 'paused by user:default/tester: lunch',
      });
      // No body at all is an empty request.
      const resumed = await act(id, 'resume');
      expect(resumed.status).toBe(200);
      expect(resumed.body.phase).toBe('progressing');
    });
  },
);
