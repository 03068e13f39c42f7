/**
 * The original design's usage examples, run against the plugin-lifecycle
 * backend through `pluginLifecycleServiceRef`.
 *
 * @packageDocumentation
 */
export { pluginLifecycleExamplesPlugin as default } from './plugin';
export { pluginLifecycleExamplesPlugin } from './plugin';
export * from './examples';
