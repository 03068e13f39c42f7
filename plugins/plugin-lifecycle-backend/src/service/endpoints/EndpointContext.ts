import type { PluginLifecycleOrchestrationSystem } from '../../system/PluginLifecycleOrchestrationSystem';
import type { HeldRequests } from '../HeldRequests';
import type { RouteAccess } from '../routeAccess';

/** What the endpoints over the facade borrow from the router. */
export interface EndpointContext extends RouteAccess {
  system: PluginLifecycleOrchestrationSystem;
  /** Aborted when the backend shuts down: long-polls answer and event streams end. */
  shutdown?: AbortSignal;
  /** Caps on long-polls and event streams; unlimited when not given. */
  heldRequests?: HeldRequests;
}
