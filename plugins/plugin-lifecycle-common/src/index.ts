/**
 * Isomorphic parts of the plugin-lifecycle plugins: the lifecycle transition
 * table, the zod schemas of the HTTP API, domain types, permissions and the
 * typed HTTP client.
 *
 * @packageDocumentation
 */
export * from './lifecycle/states';
export * from './lifecycle/transitions';
export * from './api/enums';
export * from './api/schemas';
export * from './api/types';
export * from './api/configuration';
export * from './api/discovery';
export * from './api/headers';
export * from './api/validationMessage';
export * from './api/operations';
export * from './api/health';
export * from './api/versionMetrics';
export * from './api/systemMetrics';
export * from './api/deployments';
export * from './api/signals';
export * from './api/versions';
export * from './api/events';
export * from './api/catalogSync';
export * from './permissions';
export * from './routes';
export * from './client/PluginLifecycleClient';
export * from './catalog/annotations';
