import { ServiceStore } from '../../database/ServiceStore';
import { TrafficSplitStore } from '../../database/TrafficSplitStore';
import {
  LoadBalancer,
  LoadBalancingStrategy,
} from '../../domain/loadBalancing';
import { ExecProbePolicy } from '../health/execProbePolicy';
import { ServiceDiscoveryOptions } from './discoveryTypes';
import { DiscoveryView } from './DiscoveryView';
import { InstancePicker, checkStrategy } from './InstancePicker';
import { InstanceUpdates } from './InstanceUpdates';
import { OutlierEjection } from './OutlierEjection';
import { DiscoveryPublish } from './registrationRows';
import { ReservedServiceNames } from './ReservedServiceNames';
import { ServiceRegistry } from './ServiceRegistry';
import { TrafficSplits } from './TrafficSplits';
import { ViewSources } from './ViewSources';
import { ViewSync } from './ViewSync';

/** The parts {@link ServiceDiscovery} coordinates, built and wired once. */
export interface DiscoveryParts {
  clock: () => number;
  defaultStrategy: LoadBalancingStrategy;
  reservedNames: ReservedServiceNames;
  outliers: OutlierEjection;
  view: DiscoveryView;
  sync: ViewSync;
  splits: TrafficSplits;
  registry: ServiceRegistry;
  updates: InstanceUpdates;
  picker: InstancePicker;
}

/**
 * Builds discovery's parts from its options, each given what it uses: one
 * store, one view (over its sources and the balancer) that the others
 * read and write, one outlier state. Throws an `InputError` for a bad
 * default strategy or ejection settings.
 */
export function createDiscoveryParts(
  options: ServiceDiscoveryOptions,
): DiscoveryParts {
  const store = ServiceStore.create({ db: options.db });
  const clock = options.clock ?? Date.now;
  const balancer = LoadBalancer.create({
    panicThreshold: options.panicThreshold,
  });
  const defaultStrategy = checkStrategy(
    options.defaultStrategy ?? 'round-robin',
  );
  const defaultTenant = options.defaultTenant ?? 'default';
  const reservedNames =
    options.reservedNames ??
    ReservedServiceNames.create({ backstagePlugins: [] });
  const outliers = OutlierEjection.create(options.ejection);
  const publish: DiscoveryPublish = (event, payload) =>
    options.events?.publish('serviceDiscovery', event, payload);

  const view = new DiscoveryView({
    sources: new ViewSources(),
    balancer,
    outliers,
    reservedNames,
    clock,
    logger: options.logger,
  });
  const splits = new TrafficSplits({
    store: TrafficSplitStore.create({ db: options.db }),
    view,
    clock,
  });
  const sync = new ViewSync({
    db: options.db,
    store,
    view,
    outliers,
    splits,
    logger: options.logger,
    pollIntervalMs: options.pollIntervalMs ?? 1_000,
    resyncIntervalMs: options.resyncIntervalMs ?? 60_000,
    clock,
  });
  const shared = {
    store,
    view,
    sync,
    clock,
    publish,
  };
  const registry = new ServiceRegistry({
    ...shared,
    execProbes: options.execProbes ?? ExecProbePolicy.create(),
    reservedNames,
    targets: options.targets,
    defaultTenant,
  });
  const updates = new InstanceUpdates({
    ...shared,
    changeRetentionMs: options.changeRetentionMs ?? 3_600_000,
  });
  const picker = new InstancePicker({
    view,
    defaultStrategy,
    defaultTenant,
    clock,
  });
  return {
    clock,
    defaultStrategy,
    reservedNames,
    outliers,
    view,
    sync,
    splits,
    registry,
    updates,
    picker,
  };
}
