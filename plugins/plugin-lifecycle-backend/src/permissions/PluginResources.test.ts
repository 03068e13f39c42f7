import { mockServices } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { PluginIdentity, PluginResources, ownersOf } from './PluginResources';

const plugins: Record<string, PluginIdentity> = {
  related: {
    id: 'related',
    tenant: 'a',
    entityRef: 'component:default/related',
  },
  // Short and mixed case: the catalog keys entities by the full ref.
  short: { id: 'short', tenant: 'b', entityRef: 'Unprocessed' },
  unlinked: { id: 'unlinked', tenant: 'a' },
  missing: { id: 'missing', tenant: 'a', entityRef: 'component:default/gone' },
};

const entities = [
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'related', namespace: 'default' },
    spec: { owner: 'ignored-when-related' },
    relations: [
      { type: 'ownedBy', targetRef: 'group:default/team-a' },
      { type: 'partOf', targetRef: 'system:default/x' },
    ],
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'unprocessed', namespace: 'default' },
    spec: { owner: 'team-b' },
  },
];

describe('PluginResources', () => {
  it("reads each plugin's owners from its catalog entity", async () => {
    const resources = PluginResources.create({
      find: async id => plugins[id],
      catalog: catalogServiceMock({ entities }),
      auth: mockServices.auth(),
      logger: mockServices.logger.mock(),
    });
    expect(
      await resources.load(['related', 'short', 'unlinked', 'missing', 'nope']),
    ).toEqual([
      {
        id: 'related',
        tenant: 'a',
        entityRef: 'component:default/related',
        owners: ['group:default/team-a'],
      },
      {
        id: 'short',
        tenant: 'b',
        entityRef: 'Unprocessed',
        owners: ['group:default/team-b'],
      },
      { id: 'unlinked', tenant: 'a', entityRef: undefined, owners: [] },
      {
        id: 'missing',
        tenant: 'a',
        entityRef: 'component:default/gone',
        owners: [],
      },
      undefined,
    ]);
  });

  it('leaves plugins without owners when the catalog fails, and says so', async () => {
    const logger = mockServices.logger.mock();
    const resources = PluginResources.create({
      find: async id => plugins[id],
      catalog: catalogServiceMock.mock({
        getEntitiesByRefs: async () => {
          throw new Error('catalog is down');
        },
      }),
      auth: mockServices.auth(),
      logger,
    });
    expect(await resources.load(['related'])).toEqual([
      expect.objectContaining({ id: 'related', owners: [] }),
    ]);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringContaining('catalog is down'),
    );
  });
});

describe('ownersOf', () => {
  it('takes spec.owner relative to the entity namespace when there are no relations', () => {
    expect(
      ownersOf({
        apiVersion: 'backstage.io/v1alpha1',
        kind: 'Component',
        metadata: { name: 'x', namespace: 'ops' },
        spec: { owner: 'user:alice' },
      }),
    ).toEqual(['user:ops/alice']);
    expect(
      ownersOf({
        apiVersion: 'backstage.io/v1alpha1',
        kind: 'Component',
        metadata: { name: 'x' },
      }),
    ).toEqual([]);
  });
});
