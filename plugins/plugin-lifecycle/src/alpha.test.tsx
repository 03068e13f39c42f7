import { Entity } from '@backstage/catalog-model';
import { PLUGIN_ID_ANNOTATION } from '@internal/plugin-lifecycle-common';
import plugin, { isPluginLifecycleAvailable } from './alpha';

function entityWith(annotations?: Record<string, string>): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'sample', annotations },
  };
}

describe('plugin-lifecycle alpha', () => {
  it('is the plugin-lifecycle plugin', () => {
    expect(plugin.pluginId).toBe('plugin-lifecycle');
  });

  it('has a Lifecycle, a Configuration and a Health tab', () => {
    expect(
      plugin.getExtension('entity-content:plugin-lifecycle/lifecycle'),
    ).toBeDefined();
    expect(
      plugin.getExtension('entity-content:plugin-lifecycle/configuration'),
    ).toBeDefined();
    expect(
      plugin.getExtension('entity-content:plugin-lifecycle/health'),
    ).toBeDefined();
  });

  it('shows toasts from the app root, wherever the user is', () => {
    expect(
      plugin.getExtension('app-root-element:plugin-lifecycle/notifier'),
    ).toBeDefined();
  });

  it('has a Deployments tab', () => {
    expect(
      plugin.getExtension('entity-content:plugin-lifecycle/deployments'),
    ).toBeDefined();
  });

  it('has a fleet page with a sidebar item and an Overview card', () => {
    expect(plugin.getExtension('page:plugin-lifecycle')).toBeDefined();
    expect(
      plugin.getExtension('entity-card:plugin-lifecycle/overview'),
    ).toBeDefined();
    expect(plugin.routes.fleet).toBeDefined();
  });

  it('shows the tab only for entities linked to a managed plugin', () => {
    expect(
      isPluginLifecycleAvailable(
        entityWith({ [PLUGIN_ID_ANNOTATION]: 'sample-http-service' }),
      ),
    ).toBe(true);
    expect(isPluginLifecycleAvailable(entityWith())).toBe(false);
    expect(
      isPluginLifecycleAvailable(entityWith({ [PLUGIN_ID_ANNOTATION]: '' })),
    ).toBe(false);
  });
});
