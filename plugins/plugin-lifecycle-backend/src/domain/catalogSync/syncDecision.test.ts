import { DeclaredPluginState } from '@internal/plugin-lifecycle-common';
import {
  CatalogSyncObservation,
  decideCatalogSync,
  declarationFingerprint,
} from './syncDecision';

const ENTITY = 'component:default/sample';
const declared = (
  state: Partial<DeclaredPluginState> = {},
): DeclaredPluginState => ({
  pluginId: 'sample',
  version: '1.1.0',
  strategy: 'canary',
  config: {},
  ...state,
});

function observe(
  o: Partial<CatalogSyncObservation> = {},
): CatalogSyncObservation {
  return {
    pluginId: 'sample',
    plugin: { currentVersion: '1.0.0', entityRef: ENTITY },
    declaration: { kind: 'declared', state: declared() },
    ...o,
  };
}

describe('declarationFingerprint', () => {
  it('ignores key order and undefined keys, not values', () => {
    const a = declared({
      config: { canary: { autoPromote: true, trafficIncrement: 10 } } as any,
    });
    const b = declared({
      config: {
        canary: { trafficIncrement: 10, autoPromote: true, steps: undefined },
      } as any,
    });
    expect(declarationFingerprint(a)).toBe(declarationFingerprint(b));
    expect(declarationFingerprint(a)).not.toBe(
      declarationFingerprint({ ...a, strategy: 'blue-green' }),
    );
    expect(declarationFingerprint(a)).not.toBe(
      declarationFingerprint({ ...a, version: '1.2.0' }),
    );
  });
});

describe('decideCatalogSync', () => {
  it('deploys a new declared version with its strategy', () => {
    expect(decideCatalogSync(observe())).toEqual({
      action: 'deploy',
      state: declared(),
      fingerprint: declarationFingerprint(declared()),
      fromVersion: '1.0.0',
    });
  });

  it('skips a plugin that is not installed or has no linked entity', () => {
    expect(decideCatalogSync(observe({ plugin: undefined }))).toMatchObject({
      action: 'none',
      status: 'not-installed',
    });
    expect(
      decideCatalogSync(observe({ plugin: { entityRef: ENTITY } })),
    ).toMatchObject({ action: 'none', status: 'not-installed' });
    expect(
      decideCatalogSync(observe({ plugin: { currentVersion: '1.0.0' } })),
    ).toMatchObject({ action: 'none', status: 'no-linked-entity' });
  });

  it('skips an entity that is missing, declares nothing, another plugin or something invalid', () => {
    expect(
      decideCatalogSync(observe({ declaration: undefined })),
    ).toMatchObject({
      status: 'no-declaration',
      reason: `the linked entity ${ENTITY} is not in the catalog`,
    });
    expect(
      decideCatalogSync(observe({ declaration: { kind: 'none' } })),
    ).toMatchObject({ status: 'no-declaration' });
    expect(
      decideCatalogSync(
        observe({
          declaration: {
            kind: 'declared',
            state: declared({ pluginId: 'other' }),
          },
        }),
      ),
    ).toMatchObject({
      status: 'no-declaration',
      reason: expect.stringContaining("for plugin 'other'"),
    });
    expect(
      decideCatalogSync(
        observe({ declaration: { kind: 'invalid', message: 'bad version' } }),
      ),
    ).toMatchObject({
      status: 'invalid',
      reason: `the annotations of ${ENTITY} are invalid: bad version`,
    });
  });

  it('acknowledges a plugin that runs the declared version', () => {
    expect(
      decideCatalogSync(
        observe({ plugin: { currentVersion: '1.1.0', entityRef: ENTITY } }),
      ),
    ).toEqual({
      action: 'none',
      status: 'in-sync',
      reason: 'runs the declared version 1.1.0',
      acknowledge: declarationFingerprint(declared()),
    });
  });

  it('never starts a second deployment while one is active', () => {
    expect(
      decideCatalogSync(
        observe({ activeDeployment: { id: 'd-person', toVersion: '2.0.0' } }),
      ),
    ).toMatchObject({
      status: 'deployment-active',
      reason: expect.stringContaining('deployment d-person (to 2.0.0)'),
    });
    expect(
      decideCatalogSync(
        observe({
          activeDeployment: { id: 'd1', toVersion: '1.1.0' },
          record: {
            actedOn: declarationFingerprint(declared()),
            deploymentId: 'd1',
          },
        }),
      ),
    ).toMatchObject({ status: 'deploying' });
  });

  it('does not retry a declared state whose deployment was rolled back', () => {
    const record = {
      actedOn: declarationFingerprint(declared()),
      deploymentId: 'd1',
    };
    for (const phase of ['rolled-back', 'aborted', 'failed'] as const) {
      expect(
        decideCatalogSync(
          observe({
            record,
            lastDeployment: {
              id: 'd1',
              phase,
              toVersion: '1.1.0',
              message: 'analysis failed',
            },
          }),
        ),
      ).toEqual({
        action: 'none',
        status: 'not-retried',
        reason: `deployment d1 to 1.1.0 ended ${phase} (analysis failed); not retried: change the annotations to deploy again`,
      });
    }
  });

  it("does not undo a person's rollback or update after the declared state ran", () => {
    const actedOn = declarationFingerprint(declared());
    expect(
      decideCatalogSync(
        observe({
          record: { actedOn, deploymentId: 'd1' },
          lastDeployment: { id: 'd1', phase: 'succeeded', toVersion: '1.1.0' },
        }),
      ),
    ).toMatchObject({
      status: 'not-retried',
      reason: expect.stringContaining(
        'deployment d1 moved it to 1.1.0, and it was moved to 1.0.0 since',
      ),
    });
    // Found running (no deployment of ours), then updated by hand.
    expect(
      decideCatalogSync(
        observe({
          plugin: { currentVersion: '1.2.0', entityRef: ENTITY },
          record: { actedOn },
        }),
      ),
    ).toMatchObject({
      status: 'not-retried',
      reason: expect.stringContaining('it ran the declared 1.1.0'),
    });
  });

  it('acts again once the annotations declare another state', () => {
    const record = {
      actedOn: declarationFingerprint(declared()),
      deploymentId: 'd1',
    };
    const lastDeployment = {
      id: 'd1',
      phase: 'rolled-back' as const,
      toVersion: '1.1.0',
    };
    // Another version, or the same one with another strategy.
    for (const state of [
      declared({ version: '1.2.0' }),
      declared({ strategy: 'blue-green' }),
    ]) {
      expect(
        decideCatalogSync(
          observe({
            record,
            lastDeployment,
            declaration: { kind: 'declared', state },
          }),
        ),
      ).toMatchObject({ action: 'deploy', state });
    }
  });
});
