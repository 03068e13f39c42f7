import {
  buildFleetRows,
  deploymentProgress,
  filterFleetRows,
  isFleetBusy,
  ownersOf,
} from './fleetRows';
import { canary, component, summary, unrelated } from './__fixtures__/fleet';

describe('buildFleetRows', () => {
  it('joins plugins with their entity, health and active deployment by plugin id', () => {
    const rows = buildFleetRows({
      plugins: [
        summary('orphan', { state: 'error', lastError: 'boom' }),
        summary('http'),
      ],
      entities: [component('http-service', 'http'), unrelated],
      deployments: [
        canary('http'),
        canary('http', { id: 'older', phase: 'paused' }),
        canary('orphan', { phase: 'rolled-back' }),
      ],
      health: new Map([['http', 'healthy' as const]]),
    });
    expect(rows.map(r => r.pluginId)).toEqual(['http', 'orphan']);
    const [http, orphan] = rows;
    expect(http.entity?.metadata.name).toBe('http-service');
    expect(http.owners).toEqual(['group:default/guests']);
    expect(http.health).toBe('healthy');
    // Newest first: the first active one is shown.
    expect(http.deployment?.id).toBe('dep-http');
    expect(orphan.entity).toBeUndefined();
    expect(orphan.owners).toEqual([]);
    expect(orphan.health).toBe('none');
    // A rolled-back deployment has ended.
    expect(orphan.deployment).toBeUndefined();
    expect(orphan.lastError).toBe('boom');
  });

  it('lists an annotated entity whose plugin was never installed as not installed', () => {
    const rows = buildFleetRows({
      plugins: [],
      entities: [component('grpc-service', 'grpc')],
      deployments: [],
      health: new Map(),
    });
    expect(rows).toEqual([
      expect.objectContaining({
        pluginId: 'grpc',
        state: 'not-installed',
        health: 'none',
      }),
    ]);
  });

  it('links the first entity by ref when several carry the same plugin id', () => {
    const rows = buildFleetRows({
      plugins: [summary('http')],
      entities: [component('zz-copy', 'http'), component('aa-main', 'http')],
      deployments: [],
      health: new Map(),
    });
    expect(rows).toHaveLength(1);
    expect(rows[0].entity?.metadata.name).toBe('aa-main');
  });
});

describe('ownersOf', () => {
  it('falls back to spec.owner without relations', () => {
    const entity = component('x', 'x', 'team-a');
    delete entity.relations;
    expect(ownersOf(entity)).toEqual(['team-a']);
    expect(ownersOf(undefined)).toEqual([]);
  });
});

describe('filterFleetRows', () => {
  const rows = buildFleetRows({
    plugins: [
      summary('http', { currentVersion: '1.1.0' }),
      summary('orphan', { state: 'error' }),
    ],
    entities: [
      component('http-service', 'http', 'team-web'),
      component('grpc-service', 'grpc'),
    ],
    deployments: [],
    health: new Map([
      ['http', 'healthy' as const],
      ['orphan', 'down' as const],
    ]),
  });
  const ids = (filter: Parameters<typeof filterFleetRows>[1]) =>
    filterFleetRows(rows, filter).map(r => r.pluginId);

  it('keeps everything without a filter', () => {
    expect(ids({})).toEqual(['grpc', 'http', 'orphan']);
  });

  it('filters by state and by health', () => {
    expect(ids({ state: 'error' })).toEqual(['orphan']);
    expect(ids({ state: 'not-installed' })).toEqual(['grpc']);
    expect(ids({ health: 'healthy' })).toEqual(['http']);
    expect(ids({ state: 'running', health: 'down' })).toEqual([]);
  });

  it('searches the plugin id, entity name, owner and version, every word', () => {
    expect(ids({ search: 'GRPC' })).toEqual(['grpc']);
    expect(ids({ search: 'team-web' })).toEqual(['http']);
    expect(ids({ search: '1.1.0' })).toEqual(['http']);
    expect(ids({ search: 'service guests' })).toEqual(['grpc']);
    expect(ids({ search: '  ' })).toEqual(['grpc', 'http', 'orphan']);
  });
});

describe('isFleetBusy', () => {
  it('is busy while a plugin is transitional or a rollout is under way', () => {
    const idle = buildFleetRows({
      plugins: [summary('a'), summary('b', { state: 'installed' })],
      entities: [component('c', 'c')],
      deployments: [],
      health: new Map(),
    });
    expect(isFleetBusy(idle)).toBe(false);
    const starting = buildFleetRows({
      plugins: [summary('a', { state: 'starting' })],
      entities: [],
      deployments: [],
      health: new Map(),
    });
    expect(isFleetBusy(starting)).toBe(true);
    const rolling = buildFleetRows({
      plugins: [summary('a')],
      entities: [],
      deployments: [canary('a')],
      health: new Map(),
    });
    expect(isFleetBusy(rolling)).toBe(true);
  });
});

describe('deploymentProgress', () => {
  it('is the share of steps done', () => {
    expect(deploymentProgress(canary('a'))).toBe(50);
    expect(deploymentProgress(canary('a', { currentStep: 4 }))).toBe(100);
    expect(deploymentProgress(canary('a', { steps: [], currentStep: 0 }))).toBe(
      0,
    );
  });
});
