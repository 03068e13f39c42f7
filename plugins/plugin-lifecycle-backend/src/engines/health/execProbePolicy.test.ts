import { ExecProbePolicy } from './execProbePolicy';

const exec = (command: string) => ({
  name: 'check',
  type: 'liveness' as const,
  method: 'exec' as const,
  exec: { command },
});
const plugin = { kind: 'plugin' as const, pluginId: 'web' };
const service = { kind: 'service' as const, serviceName: 'web' };

describe('ExecProbePolicy', () => {
  it('refuses every exec probe by default, naming the keys that would allow it', () => {
    const policy = ExecProbePolicy.create();
    expect(() =>
      policy.assertAllowed([exec('sh')], {
        ...plugin,
        origin: 'the install request',
      }),
    ).toThrow(
      `Exec probe command "sh" of plugin 'web' (the install request) is not allowed; an operator may allow it with pluginLifecycle.health.exec.allowedCommands or pluginLifecycle.plugins.web.allowExecProbes in app-config`,
    );
    expect(() => policy.assertAllowed([exec('sh')], service)).toThrow(
      `Exec probe command "sh" of service 'web' is not allowed; an operator may allow it with pluginLifecycle.health.exec.allowedCommands in app-config`,
    );
  });

  it('throws a NotAllowedError', () => {
    let thrown: unknown;
    try {
      ExecProbePolicy.create().assertAllowed([exec('sh')], plugin);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ name: 'NotAllowedError' });
  });

  it('lets other probe methods through', () => {
    expect(() =>
      ExecProbePolicy.create().assertAllowed(
        [{ name: 'h', type: 'liveness', method: 'http', http: { path: '/' } }],
        plugin,
      ),
    ).not.toThrow();
    expect(() =>
      ExecProbePolicy.create().assertAllowed(undefined, plugin),
    ).not.toThrow();
  });

  it('allows listed commands as written, for plugins and services', () => {
    const policy = ExecProbePolicy.create({ allowedCommands: ['sh'] });
    expect(policy.allows('sh', plugin)).toBe(true);
    expect(policy.allows('sh', service)).toBe(true);
    expect(policy.allows('/bin/sh', plugin)).toBe(false);
    expect(policy.allows('bash', plugin)).toBe(false);
  });

  it("allows any command of an allowed plugin's own probes, not of a service naming it", () => {
    const policy = ExecProbePolicy.create({ allowedPlugins: ['web'] });
    expect(policy.allows('anything', plugin)).toBe(true);
    expect(
      policy.allows('anything', { kind: 'plugin', pluginId: 'other' }),
    ).toBe(false);
    expect(policy.allows('anything', service)).toBe(false);
  });
});
