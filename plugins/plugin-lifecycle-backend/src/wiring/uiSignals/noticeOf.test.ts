import { Deployment, Operation } from '@internal/plugin-lifecycle-common';
import { deploymentNotice, isUserRef, operationNotice } from './noticeOf';

const at = new Date('2026-12-04T12:00:00.000Z');

function operation(patch: Partial<Operation>): Operation {
  return {
    id: 'op-1',
    pluginId: 'p',
    tenant: 'default',
    type: 'install',
    status: 'succeeded',
    actor: 'user:default/alice',
    params: { version: '1.0.0' },
    attempts: 1,
    createdAt: at.toISOString(),
    ...patch,
  };
}

function deployment(patch: Partial<Deployment>): Deployment {
  return {
    id: 'd-1',
    pluginId: 'p',
    tenant: 'default',
    strategy: 'canary',
    fromVersion: '1.0.0',
    toVersion: '1.1.0',
    config: {} as Deployment['config'],
    phase: 'succeeded',
    currentStep: 3,
    steps: [],
    traffic: {},
    instances: {},
    analysis: [],
    approvals: [],
    operationId: 'op-9',
    createdBy: 'user:default/alice',
    createdAt: at.toISOString(),
    updatedAt: at.toISOString(),
    ...patch,
  };
}

describe('notices', () => {
  it('tells people, not automatic actors or other plugins', () => {
    expect(isUserRef('user:default/alice')).toBe(true);
    expect(isUserRef('user:alice')).toBe(true);
    expect(isUserRef('plugin-lifecycle:restart-policy')).toBe(false);
    expect(isUserRef('plugin:scaffolder')).toBe(false);
    expect(isUserRef(undefined)).toBe(false);
    expect(
      operationNotice(operation({ actor: 'plugin-lifecycle:reconciler' }), at),
    ).toBeUndefined();
  });

  it('says how an operation ended, with its version and error', () => {
    expect(
      operationNotice(
        operation({ status: 'failed', error: 'no such version' }),
        at,
      ),
    ).toEqual({
      recipient: 'user:default/alice',
      notice: {
        kind: 'operation',
        pluginId: 'p',
        operationId: 'op-1',
        what: 'install',
        version: '1.0.0',
        outcome: 'failed',
        ok: false,
        message: 'no such version',
        at: at.toISOString(),
      },
    });
    expect(
      operationNotice(operation({ type: 'stop', params: {} }), at)?.notice,
    ).toMatchObject({ what: 'stop', ok: true });
    expect(
      operationNotice(operation({ status: 'cancelled' }), at)?.notice,
    ).toMatchObject({ outcome: 'cancelled', ok: false });
  });

  it('leaves an update handed to a deployment to the deployment, and an unfinished operation alone', () => {
    expect(
      operationNotice(
        operation({
          type: 'update',
          params: { version: '1.1.0', deploymentId: 'd-1' },
        }),
        at,
      ),
    ).toBeUndefined();
    expect(
      operationNotice(operation({ status: 'running' }), at),
    ).toBeUndefined();
  });

  it('says how a deployment ended, to who started it', () => {
    expect(deploymentNotice(deployment({}), at)).toEqual({
      recipient: 'user:default/alice',
      notice: {
        kind: 'deployment',
        pluginId: 'p',
        deploymentId: 'd-1',
        operationId: 'op-9',
        what: 'update',
        version: '1.1.0',
        strategy: 'canary',
        outcome: 'succeeded',
        ok: true,
        at: at.toISOString(),
      },
    });
    expect(
      deploymentNotice(
        deployment({ phase: 'rolled-back', message: 'error rate 12%' }),
        at,
      )?.notice,
    ).toMatchObject({
      outcome: 'rolled-back',
      ok: false,
      message: 'error rate 12%',
    });
    expect(
      deploymentNotice(deployment({ phase: 'rolling-back' }), at),
    ).toBeUndefined();
    expect(
      deploymentNotice(deployment({ createdBy: undefined }), at),
    ).toBeUndefined();
  });
});
