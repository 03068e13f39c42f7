/**
 * Trends of probe results (latency anomalies, success rate, flapping) and
 * the verdict on an instance they add up to. Pure: time is passed in.
 */
export * from './options';
export * from './latency';
export * from './successWindow';
export * from './flapping';
export * from './probeTrend';
export * from './verdict';
export * from './probeBreaker';
