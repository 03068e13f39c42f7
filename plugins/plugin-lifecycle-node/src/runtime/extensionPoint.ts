import { createExtensionPoint } from '@backstage/backend-plugin-api';
import { PluginRuntime } from './types';

/** @public */
export interface PluginLifecycleRuntimesExtensionPoint {
  /** Adds a runtime; plugins choose it by its `type`. */
  addRuntime(runtime: PluginRuntime): void;
}

/**
 * Lets backend modules add runtimes (for example a Kubernetes engine).
 *
 * @public
 */
export const pluginLifecycleRuntimesExtensionPoint =
  createExtensionPoint<PluginLifecycleRuntimesExtensionPoint>({
    id: 'plugin-lifecycle.runtimes',
  });
