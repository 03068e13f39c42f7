import {
  operationSchemas,
  parseOperationParams,
  updateResultSchema,
} from './operations';
import { LifecycleAction } from '../lifecycle/transitions';

describe('parseOperationParams', () => {
  it('reads the parameters of each type with its schema', () => {
    const parsed = parseOperationParams('install', {
      version: '1.2.3',
      artifact: { type: 'tarball', path: '/tmp/p.tgz' },
      replicas: 2,
      start: true,
    });
    expect(parsed).toEqual({
      success: true,
      params: {
        version: '1.2.3',
        artifact: { type: 'tarball', path: '/tmp/p.tgz' },
        replicas: 2,
        start: true,
      },
    });
  });

  it('reads what the API wrote again to the same value', () => {
    // A command artifact's `args` default is applied once, at the API.
    const params = {
      version: '2.0.0',
      artifact: { type: 'command', command: 'node', args: ['server.js'] },
      manifest: { reloadStrategy: 'signal', reloadSignal: 'SIGHUP' },
      healthProbes: [
        {
          name: 'ready',
          type: 'readiness',
          method: 'http',
          http: { path: '/health' },
        },
      ],
      rollbackOf: 'op-1',
      expectedCurrentVersion: '3.0.0',
      restoreConfigRevision: 4,
      reason: 'rollback of update op-1',
    };
    expect(parseOperationParams('update', params)).toEqual({
      success: true,
      params,
    });
  });

  it('keeps keys it does not know (written by a newer replica)', () => {
    expect(
      parseOperationParams('stop', { cascade: true, drainSeconds: 5 }),
    ).toEqual({ success: true, params: { cascade: true, drainSeconds: 5 } });
  });

  it('reads absent parameters as none', () => {
    expect(parseOperationParams('start', undefined)).toEqual({
      success: true,
      params: {},
    });
  });

  it('says which parameter does not fit', () => {
    expect(parseOperationParams('install', { replicas: 2 })).toEqual({
      success: false,
      message: 'version: is required: a semantic version such as 1.2.3',
    });
    expect(parseOperationParams('restart', { instanceId: 7 })).toEqual({
      success: false,
      message: 'instanceId: Invalid input: expected string, received number',
    });
  });

  it('refuses a type it does not know', () => {
    expect(parseOperationParams('drain' as 'start', {})).toEqual({
      success: false,
      message: "unknown operation type 'drain'",
    });
  });

  it('has the schemas of every operation type', () => {
    expect(Object.keys(operationSchemas).sort()).toEqual(
      Object.values(LifecycleAction).sort(),
    );
  });
});

describe('operation results', () => {
  it('describe what an update records', () => {
    expect(
      updateResultSchema.safeParse({
        fromVersion: '1.0.0',
        toVersion: '2.0.0',
        fromConfigRevision: 3,
        configRevision: 3,
        instances: ['p-1'],
      }).success,
    ).toBe(true);
    expect(updateResultSchema.safeParse({ fromVersion: '1.0.0' }).success).toBe(
      false,
    );
  });
});
