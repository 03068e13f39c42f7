/**
 * Pure building blocks of plugin configuration: merging the base layer with
 * an environment's, diffing versions, masking secrets and validating entries
 * (on their own and against the plugin's JSON Schema). Nothing here does
 * I/O or sees encrypted values: callers seal and open secrets around it.
 */
export * from './diff';
export * from './layerWrite';
export * from './masking';
export * from './overlay';
export * from './validation';
