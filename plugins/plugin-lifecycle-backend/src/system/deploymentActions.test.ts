import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import {
  Deployment,
  OperationAccepted,
} from '@internal/plugin-lifecycle-common';
import { createTestDatabases } from '../__testUtils__/databases';
import {
  externalArtifact,
  startDeploymentSystem,
  waitForSystemDeployment,
} from '../__testUtils__/deploymentSystem';
import { ABORT_REQUESTED } from '../domain/deployments/actions';
import { SystemEventEnvelope } from '../events/eventMap';

jest.setTimeout(60_000);

const databases = createTestDatabases();

describe.each(databases.eachSupportedId())(
  'deployment actions through the facade on %s',
  databaseId => {
    let ctx: Awaited<ReturnType<typeof startDeploymentSystem>>;
    const events: SystemEventEnvelope[] = [];

    beforeAll(async () => {
      ctx = await startDeploymentSystem(databases, databaseId);
      ctx.system.on('systemEvent', e => {
        if (e.component === 'deploymentManager') events.push(e);
      });
    });

    afterAll(async () => {
      await ctx?.stop();
    });

    beforeEach(() => {
      events.length = 0;
    });

    /** The deployment a test seeded is the plugin's only active one: end it. */
    afterEach(async () => {
      const active = await ctx.store.activeForPlugin('sample');
      if (active) {
        await ctx.store.change(active.id, () => ({ phase: 'aborted' }));
      }
    });

    it('approve records who and why, and the deployment goes on', async () => {
      const id = await ctx.seed({});
      const result = (await ctx.system.deploymentAction(id, 'approve', {
        userId: 'user:default/approver',
        reason: 'canary metrics are clean',
      })) as Deployment;
      expect(result).toMatchObject({
        id,
        phase: 'progressing',
        currentStep: 3,
        message: 'approved by user:default/approver: canary metrics are clean',
      });
      expect(result.approvals).toEqual([
        {
          step: 2,
          gate: 'promotion',
          requestedAt: '2026-12-04T10:00:00.000Z',
          decision: 'approved',
          decidedBy: 'user:default/approver',
          decidedAt: expect.any(String),
          reason: 'canary metrics are clean',
        },
      ]);
      // Stored, not only answered; the controller's bookkeeping is not shown.
      const stored = await ctx.system.getDeployment(id);
      expect(stored.approvals).toEqual(result.approvals);
      expect(stored).not.toHaveProperty('revision');
      expect(stored).not.toHaveProperty('stepState');
      expect((await ctx.store.get(id))!.nextRunAt).toBeDefined();

      expect(events.map(e => e.event)).toEqual([
        'deploymentActionTaken',
        'deploymentApprovalDecided',
        'deploymentStepCompleted',
      ]);
      expect(events[1].args[0]).toMatchObject({
        actor: 'user:default/approver',
        reason: 'canary metrics are clean',
        approval: { decision: 'approved', decidedBy: 'user:default/approver' },
      });
      expect(events[2].args[0]).toMatchObject({
        step: { index: 2, status: 'succeeded' },
      });
    });

    it('reject records who and why and rolls back', async () => {
      const id = await ctx.seed({});
      const result = (await ctx.system.deploymentAction(id, 'reject', {
        userId: 'user:default/approver',
        reason: 'error budget spent',
      })) as Deployment;
      expect(result).toMatchObject({
        phase: 'rolling-back',
        message: 'rejected by user:default/approver: error budget spent',
      });
      expect(result.approvals[0]).toMatchObject({
        decision: 'rejected',
        decidedBy: 'user:default/approver',
        reason: 'error budget spent',
      });
      // A second decision on the same gate is refused: the gate is closed.
      await expect(
        ctx.system.deploymentAction(id, 'approve', { userId: 'user:x' }),
      ).rejects.toThrow(
        new ConflictError(
          `deployment ${id} is rolling-back: approve is possible only while it awaits approval`,
        ),
      );
    });

    it('abort leaves the flag the controller ends it aborted by', async () => {
      const id = await ctx.seed({ phase: 'progressing', currentStep: 1 });
      await ctx.system.deploymentAction(id, 'abort', { userId: 'user:x' });
      const stored = await ctx.store.get(id);
      expect(stored).toMatchObject({
        phase: 'rolling-back',
        message: 'aborted by user:x',
        stepState: { [ABORT_REQUESTED]: true },
      });
    });

    it('refuses a bad request, another tenant and an unknown action', async () => {
      const id = await ctx.seed({ phase: 'paused', currentStep: 1 });
      await expect(
        ctx.system.deploymentAction(id, 'promote', {
          full: 'yes' as unknown as boolean,
        }),
      ).rejects.toThrow(InputError);
      await expect(
        ctx.system.deploymentAction(id, 'promote', { extra: 1 } as object),
      ).rejects.toThrow(/Invalid promote request: .*extra/);
      await expect(
        ctx.system.deploymentAction(id, 'pause', { scope: { tenants: ['b'] } }),
      ).rejects.toThrow(NotFoundError);
      await expect(
        ctx.system.getDeployment(id, { tenants: ['b'] }),
      ).rejects.toThrow(new NotFoundError(`No deployment with id '${id}'`));
      await expect(
        ctx.system.deploymentAction(id, 'explode' as 'pause'),
      ).rejects.toThrow(
        "Invalid action 'explode': must be one of approve, reject, promote, pause, resume, abort, retry, rollback",
      );
      // Nothing changed.
      expect((await ctx.store.get(id))!.revision).toBe(1);
    });

    it('lists newest first, within the scope', async () => {
      const first = await ctx.seed({ phase: 'failed' });
      const second = await ctx.seed({ phase: 'rolled-back' });
      const third = await ctx.seed({ phase: 'paused', currentStep: 1 });
      const all = await ctx.system.listPluginDeployments('sample');
      const ids = all.map(d => d.id);
      expect(ids.indexOf(third)).toBeLessThan(ids.indexOf(second));
      expect(ids.indexOf(second)).toBeLessThan(ids.indexOf(first));
      expect(
        (await ctx.system.listDeployments({ active: true })).map(d => d.id),
      ).toEqual([third]);
      expect(
        await ctx.system.listDeployments({}, { tenants: ['elsewhere'] }),
      ).toEqual([]);
      await expect(
        ctx.system.listPluginDeployments('sample', {}, { tenants: ['b'] }),
      ).rejects.toThrow(NotFoundError);
    });

    it('retry re-queues the update of a rolled-back deployment', async () => {
      const first = await ctx.seed({
        phase: 'rolled-back',
        message: 'analysis failed',
      });
      const retried = (await ctx.system.deploymentAction(first, 'retry', {
        userId: 'user:default/ops',
        reason: 'fixed the database',
      })) as Deployment;
      expect(retried).toMatchObject({
        phase: 'pending',
        currentStep: 0,
        message: 'retried by user:default/ops: fixed the database',
      });
      expect(retried.steps.map(s => s.status)).toEqual(
        retried.steps.map(() => 'pending'),
      );
      const operation = await ctx.system.getOperation(retried.operationId!);
      expect(operation).toMatchObject({
        type: 'update',
        pluginId: 'sample',
        actor: 'user:default/ops',
        params: {
          version: '1.1.0',
          deploymentId: first,
          deploymentStrategy: 'canary',
          deploymentConfig: { canary: { trafficIncrement: 50 } },
          reason: 'fixed the database',
        },
      });
      // The retried update runs and hands over; the plugin is installed,
      // not running, so the deployment only swaps the files and ends.
      expect(await ctx.system.waitForOperation(operation.id)).toMatchObject({
        status: 'succeeded',
      });
      expect(await waitForSystemDeployment(ctx.system, first)).toMatchObject({
        phase: 'succeeded',
      });
      expect(await ctx.system.getPlugin('sample')).toMatchObject({
        state: 'installed',
        currentVersion: '1.1.0',
      });
    });

    it('retry is a 409 when the plugin no longer runs the version it moved from', async () => {
      const id = await ctx.seed({
        phase: 'aborted',
        fromVersion: '0.9.0',
      });
      await expect(ctx.system.deploymentAction(id, 'retry')).rejects.toThrow(
        new ConflictError(
          `Cannot retry deployment ${id} of 'sample' (0.9.0 -> 1.1.0): the plugin runs ${
            (
              await ctx.system.getPlugin('sample')
            ).currentVersion
          } now`,
        ),
      );
      expect((await ctx.store.get(id))!.phase).toBe('aborted');
    });

    it('rollback of a succeeded deployment rolls back its update', async () => {
      const plugin = await ctx.system.getPlugin('sample');
      const from = plugin.currentVersion!;
      const update = await ctx.system.updatePlugin('sample', '3.0.0', {
        artifact: externalArtifact,
      });
      expect(
        (await ctx.system.waitForOperation(update.operationId)).status,
      ).toBe('succeeded');
      // The deployment the update created, once the controller ended it.
      const id = update.deploymentId!;
      expect(await waitForSystemDeployment(ctx.system, id)).toMatchObject({
        phase: 'succeeded',
        fromVersion: from,
        toVersion: '3.0.0',
        operationId: update.operationId,
      });
      const accepted = (await ctx.system.deploymentAction(id, 'rollback', {
        userId: 'user:default/ops',
      })) as OperationAccepted;
      expect(accepted).toMatchObject({ type: 'update', pluginId: 'sample' });
      const rollback = await ctx.system.getOperation(accepted.operationId);
      expect(rollback.params).toMatchObject({
        version: from,
        rollbackOf: update.operationId,
        reason: `rollback of deployment ${id}`,
      });
      expect(
        (await ctx.system.waitForOperation(accepted.operationId)).status,
      ).toBe('succeeded');
      expect((await ctx.system.getPlugin('sample')).currentVersion).toBe(from);
    });
  },
);
