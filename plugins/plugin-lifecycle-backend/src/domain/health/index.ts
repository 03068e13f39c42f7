/**
 * Pure health semantics: how probe results add up to an instance that is
 * started, ready and live, as in Kubernetes. Nothing here does I/O; time is
 * passed in as ms since the epoch.
 */
export * from './probeStatus';
