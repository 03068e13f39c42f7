import {
  Deployment,
  DeploymentAction,
  DeploymentActionRequest,
  DeploymentPhase,
} from '../api/deployments';
import { DeploymentActionResult } from '../routes/deploymentRoutes';
import { pluginLifecycleRoutes as routes } from '../routes';
import { RequestCore } from './requestCore';

/** The deployments a list may be narrowed to. */
type DeploymentFilter = {
  phase?: DeploymentPhase;
  active?: boolean;
  limit?: number;
};

/**
 * The requests about deployments: reading them and acting on them
 * (approve, promote, pause, rollback, ...). Documented where callers see
 * them, on {@link PluginLifecycleClient}.
 */
export class DeploymentCalls {
  readonly #core: RequestCore;

  constructor(core: RequestCore) {
    this.#core = core;
  }

  getDeployment(deploymentId: string): Promise<Deployment> {
    return this.#core.call(routes.getDeployment, { params: { deploymentId } });
  }

  async listDeployments(
    filter?: DeploymentFilter & { pluginId?: string },
  ): Promise<Deployment[]> {
    const body = await this.#core.call(routes.listDeployments, {
      query: { ...filter, active: activeQuery(filter) },
    });
    return body.items;
  }

  async listPluginDeployments(
    pluginId: string,
    filter?: DeploymentFilter,
  ): Promise<Deployment[]> {
    const body = await this.#core.call(routes.listPluginDeployments, {
      params: { pluginId },
      query: { ...filter, active: activeQuery(filter) },
    });
    return body.items;
  }

  deploymentAction(
    deploymentId: string,
    action: DeploymentAction,
    request: DeploymentActionRequest,
  ): Promise<DeploymentActionResult> {
    return this.#core.call(routes.deploymentAction, {
      params: { deploymentId, action },
      body: request,
    });
  }
}

/** `active` as the query carries it: `true`, `false`, or left out. */
function activeQuery(filter?: DeploymentFilter): string | undefined {
  return filter?.active === undefined ? undefined : String(filter.active);
}
