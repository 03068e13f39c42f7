/**
 * Pure load balancing: which instances of a service may take traffic, and
 * which one takes the next request under each strategy (round robin, smooth
 * weighted round robin, least connections, consistent ip-hash and
 * health-weighted), with Envoy-style panic routing. Nothing here does I/O;
 * time is passed in as ms since the epoch.
 */
export * from './types';
export * from './eligibility';
export { createPicker } from './createPicker';
export { LoadBalancer } from './LoadBalancer';
export type { InstancePatch } from './InstancePool';
export { validateInstances } from './InstancePool';
export { HashRing, referenceWeight, virtualNodeCount } from './hashRing';
export { fnv1a32, fnv1a32Int, fmix32, hash32 } from './hash';
export {
  DEFAULT_TRACK,
  MAX_SUBSETS,
  SubsetSplitter,
  subsetKey,
  type TrafficSubset,
} from './subsets';
export {
  hasCookie,
  matchesRequest,
  type NameValue,
  type RequestHeaders,
  type SubsetMatch,
  type TrafficSplit,
} from './trafficSplit';
