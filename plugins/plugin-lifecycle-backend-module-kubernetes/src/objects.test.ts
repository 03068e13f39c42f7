import { containerProbes, labelValue, setName } from './objects';

describe('kubernetes object names and labels', () => {
  it('names a set after plugin, version and track, within a Service name', () => {
    expect(
      setName({
        pluginId: 'Hello_World',
        version: '1.2.3-rc.1',
        track: 'canary',
      }),
    ).toBe('pl-hello-world-1-2-3-rc-1-canary');
    const long = setName({
      pluginId: 'a-very-long-plugin-identifier-that-goes-on',
      version: '10.20.30-beta.4+build.567',
      track: 'green',
    });
    expect(long.length).toBeLessThanOrEqual(50);
    expect(long).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    // Different sets never share a shortened name.
    expect(long).not.toBe(
      setName({
        pluginId: 'a-very-long-plugin-identifier-that-goes-on',
        version: '10.20.30-beta.4+build.567',
        track: 'blue',
      }),
    );
  });

  it('makes label values Kubernetes accepts', () => {
    expect(labelValue('1.0.0')).toBe('1.0.0');
    expect(labelValue('1.0.0+build.5')).toBe('1.0.0_build.5');
    const long = labelValue('x'.repeat(100));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
  });

  it('turns http and tcp probes into container probes and leaves grpc and exec to the health monitor', () => {
    expect(
      containerProbes(
        [
          {
            name: 'r',
            type: 'readiness',
            method: 'http',
            http: { path: '/r' },
            periodSeconds: 0.5,
            timeoutSeconds: 0.2,
            successThreshold: 2,
          },
          { name: 'l', type: 'liveness', method: 'tcp', successThreshold: 2 },
          {
            name: 's',
            type: 'startup',
            method: 'exec',
            exec: { command: 'x' },
          },
          { name: 'g', type: 'startup', method: 'grpc', grpc: {} },
        ],
        8080,
      ),
    ).toEqual({
      readinessProbe: {
        httpGet: { path: '/r', port: 8080 },
        periodSeconds: 1,
        timeoutSeconds: 1,
        successThreshold: 2,
      },
      livenessProbe: { tcpSocket: { port: 8080 } },
    });
  });
});
