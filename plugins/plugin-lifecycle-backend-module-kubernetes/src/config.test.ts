import { ConfigReader } from '@backstage/config';
import { namespaceForPlugin, readKubernetesRuntimeConfig } from './config';

const read = (kubernetes: object) =>
  readKubernetesRuntimeConfig(
    new ConfigReader({ pluginLifecycle: { runtime: { kubernetes } } }),
  );

describe('readKubernetesRuntimeConfig', () => {
  it('defaults to a kubeconfig and one shared namespace', () => {
    expect(readKubernetesRuntimeConfig(new ConfigReader({}))).toEqual({
      access: 'kubeconfig',
      kubeconfig: undefined,
      context: undefined,
      namespaces: 'shared',
      namespace: 'plugin-lifecycle',
      namespacePrefix: 'plugin-lifecycle-',
    });
  });

  it('refuses values Kubernetes would refuse, naming the key', () => {
    expect(() => read({ access: 'token' })).toThrow(
      'pluginLifecycle.runtime.kubernetes.access must be kubeconfig or inCluster, not token',
    );
    expect(() => read({ namespace: 'Plugins' })).toThrow(
      'pluginLifecycle.runtime.kubernetes.namespace "Plugins" is not a valid namespace name',
    );
    expect(() => read({ namespaces: 'each' })).toThrow(
      /namespaces must be shared or per-plugin/,
    );
  });

  it('puts each plugin in a namespace of its own when asked', () => {
    const config = read({ namespaces: 'per-plugin', namespacePrefix: 'pl-' });
    expect(namespaceForPlugin(config, 'Hello_World')).toBe('pl-hello-world');
    expect(namespaceForPlugin(read({}), 'x')).toBe('plugin-lifecycle');
    expect(() => namespaceForPlugin(config, 'a'.repeat(70))).toThrow(
      /no valid namespace name/,
    );
  });
});
