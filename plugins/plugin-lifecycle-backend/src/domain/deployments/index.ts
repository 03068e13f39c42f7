/**
 * Pure rules of deployments: the step plan of each strategy, and the
 * analysis of a window of proxy measurements. Nothing here does I/O or
 * reads a clock; the controller (engines/deployments) executes the steps.
 */
export * from './plans';
export * from './analysis';
export * from './resolveCount';
