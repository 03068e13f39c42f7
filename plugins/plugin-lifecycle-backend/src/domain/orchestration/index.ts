/**
 * Pure building blocks of the durable operation queue: batch planning,
 * retry backoff, circuit breaking, tenant fairness, preconditions and
 * quotas. Nothing here does I/O; time is passed in as ms since the epoch.
 */
export * from './batchPlan';
export * from './backoff';
export * from './circuitBreaker';
export * from './fairness';
export * from './failures';
export * from './preconditions';
export * from './quotas';
export * from './restartPolicy';
