import { createRouteRef } from '@backstage/frontend-plugin-api';

/**
 * The route of the fleet page (every managed plugin), mounted at
 * `/plugin-lifecycle` by default.
 *
 * @alpha
 */
export const fleetRouteRef = createRouteRef();
