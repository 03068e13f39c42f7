import {
  ServiceFactoryTester,
  mockServices,
} from '@backstage/backend-test-utils';
import { JsonObject } from '@backstage/types';
import {
  managedPluginDiscoveryServiceFactory,
  readManagedPluginRouting,
} from './discoveryServiceFactory';

const backend = {
  baseUrl: 'https://backstage.example.com',
  listen: { port: 7007, host: '0.0.0.0' },
};

function discoveryFor(pluginLifecycle: JsonObject) {
  return ServiceFactoryTester.from(managedPluginDiscoveryServiceFactory, {
    dependencies: [
      mockServices.rootConfig.factory({ data: { backend, pluginLifecycle } }),
    ],
  }).getSubject('catalog');
}

const sampleArtifact = { artifact: { type: 'npm', package: 'sample' } };

describe('managedPluginDiscoveryServiceFactory', () => {
  it('sends managed plugins through the proxy and the rest to HostDiscovery', async () => {
    const discovery = await discoveryFor({
      plugins: { sample: sampleArtifact },
    });
    expect(await discovery.getBaseUrl('sample')).toBe(
      'http://127.0.0.1:7007/api/plugin-lifecycle/proxy/sample',
    );
    expect(await discovery.getExternalBaseUrl('sample')).toBe(
      'https://backstage.example.com/api/plugin-lifecycle/proxy/sample',
    );
    expect(await discovery.getBaseUrl('catalog')).toBe(
      'http://127.0.0.1:7007/api/catalog',
    );
    expect(await discovery.getExternalBaseUrl('catalog')).toBe(
      'https://backstage.example.com/api/catalog',
    );
    expect(await discovery.getBaseUrl('plugin-lifecycle')).toBe(
      'http://127.0.0.1:7007/api/plugin-lifecycle',
    );
  });

  it('prefers the data plane for internal calls when it needs no token', async () => {
    const discovery = await discoveryFor({
      discovery: {
        managedPlugins: ['sample', 'plugin-lifecycle'],
        dataPlane: { port: 7008 },
      },
    });
    expect(await discovery.getBaseUrl('sample')).toBe(
      'http://127.0.0.1:7008/proxy/sample',
    );
    // Browsers cannot reach the data plane.
    expect(await discovery.getExternalBaseUrl('sample')).toBe(
      'https://backstage.example.com/api/plugin-lifecycle/proxy/sample',
    );
    // Never routes to itself.
    expect(await discovery.getBaseUrl('plugin-lifecycle')).toBe(
      'http://127.0.0.1:7007/api/plugin-lifecycle',
    );
  });

  it('reads the routing from config', () => {
    const read = (pluginLifecycle: JsonObject) =>
      readManagedPluginRouting(
        mockServices.rootConfig({ data: { pluginLifecycle } }),
      );
    expect(read({})).toEqual({ managedPlugins: new Set() });
    expect(
      read({
        plugins: { a: sampleArtifact, b: sampleArtifact },
        discovery: { managedPlugins: ['c'] },
      }).managedPlugins,
    ).toEqual(new Set(['c']));
    expect(
      read({ discovery: { dataPlane: { port: 7008, host: '0.0.0.0' } } })
        .dataPlaneUrl,
    ).toBe('http://127.0.0.1:7008/proxy');
    expect(
      read({ discovery: { dataPlane: { port: 7008, host: '::1' } } })
        .dataPlaneUrl,
    ).toBe('http://[::1]:7008/proxy');
    expect(
      read({ discovery: { dataPlane: { url: 'http://proxy.internal:80/' } } })
        .dataPlaneUrl,
    ).toBe('http://proxy.internal:80/proxy');
    // A token the callers cannot send: internal calls use the backend route.
    expect(
      read({ discovery: { dataPlane: { port: 7008, token: 'x' } } })
        .dataPlaneUrl,
    ).toBeUndefined();
  });
});
