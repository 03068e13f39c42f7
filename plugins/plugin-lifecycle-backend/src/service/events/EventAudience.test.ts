import { EventAudience, subjectOf } from './EventAudience';

const plugins: Record<string, { id: string; tenant: string }> = {
  a: { id: 'a', tenant: 'team-a' },
  b: { id: 'b', tenant: 'team-b' },
};
const find = async (id: string) => plugins[id];

describe('subjectOf', () => {
  it('reads the plugin and tenant of each kind of payload', () => {
    expect(subjectOf({ pluginId: 'a', tenant: 't' })).toEqual({
      pluginId: 'a',
      tenant: 't',
    });
    expect(
      subjectOf({ deployment: { pluginId: 'a', tenant: 't' }, actor: 'x' }),
    ).toEqual({ pluginId: 'a', tenant: 't' });
    expect(subjectOf({ serviceId: 's', tenant: 't' })).toEqual({
      pluginId: undefined,
      tenant: 't',
    });
    expect(subjectOf(undefined)).toEqual({});
  });
});

describe('EventAudience', () => {
  it('an unconditional allow over every tenant sees everything', async () => {
    const audience = EventAudience.create({
      scope: { all: true },
      filter: async items => items,
      unconditional: true,
      find,
    });
    expect(await audience.admits({ pluginId: 'a' })).toBe(true);
    expect(await audience.admits({ pluginId: 'gone' })).toBe(true);
    expect(await audience.admits({ serviceId: 's' })).toBe(true);
  });

  it('keeps a reader within its tenants', async () => {
    const audience = EventAudience.create({
      scope: { tenants: ['team-a'] },
      filter: async items => items,
      unconditional: true,
      find,
    });
    expect(await audience.admits({ pluginId: 'a' })).toBe(true);
    expect(await audience.admits({ pluginId: 'b' })).toBe(false);
    // A plugin already gone: judged by the tenant the event names.
    expect(await audience.admits({ pluginId: 'gone', tenant: 'team-a' })).toBe(
      true,
    );
    expect(await audience.admits({ pluginId: 'gone' })).toBe(false);
    expect(await audience.admits({ serviceId: 's', tenant: 'team-b' })).toBe(
      false,
    );
    expect(await audience.admits({ serviceId: 's', tenant: 'team-a' })).toBe(
      true,
    );
    // A service naming no tenant: only for readers of every tenant.
    expect(await audience.admits({ serviceId: 's' })).toBe(false);
  });

  it('applies a conditional decision to each plugin, once per window', async () => {
    const asked: string[] = [];
    let now = 0;
    const audience = EventAudience.create({
      scope: { all: true },
      filter: async items => {
        asked.push(...items.map(i => i.id));
        return items.filter(i => i.id === 'a');
      },
      unconditional: false,
      find,
      now: () => now,
    });
    expect(await audience.admits({ pluginId: 'a' })).toBe(true);
    expect(await audience.admits({ pluginId: 'b' })).toBe(false);
    expect(await audience.admits({ pluginId: 'a' })).toBe(true);
    expect(asked).toEqual(['a', 'b']);
    now = 31_000;
    await audience.admits({ pluginId: 'a' });
    expect(asked).toEqual(['a', 'b', 'a']);
    // Events about no plugin need an unconditional allow.
    expect(await audience.admits({ serviceId: 's', tenant: 'x' })).toBe(false);
  });
});
