import { createExtensionPoint } from '@backstage/backend-plugin-api';
import { AnalysisVerdict, Deployment } from '@internal/plugin-lifecycle-common';

/**
 * What a deployment analysis provider is asked: the deployment, its window
 * and the parameters the step names it with
 * (`analysis.providers: [{name, params}]`).
 *
 * @public
 */
export interface DeploymentAnalysisRequest {
  deployment: Deployment;
  params: Record<string, unknown>;
  /** ISO 8601 start and end of the analysis window. */
  windowStart: string;
  windowEnd: string;
}

/**
 * A judgement of its own on an analysis window (for example the result of a
 * Prometheus query): `fail` fails the window (the deployment rolls back),
 * `insufficient-data` never passes it.
 *
 * @public
 */
export interface DeploymentAnalysisProvider {
  /** The name steps use to call it. */
  name: string;
  evaluate(request: DeploymentAnalysisRequest): Promise<{
    verdict: Exclude<AnalysisVerdict, 'running'>;
    message?: string;
  }>;
}

/** @public */
export interface PluginLifecycleDeploymentAnalysisExtensionPoint {
  /** Adds a provider; a second one with the same name is an error. */
  addAnalysisProvider(provider: DeploymentAnalysisProvider): void;
}

/**
 * Lets backend modules add analysis providers to deployments, beside the
 * built-in analysis of the proxies' own measurements.
 *
 * @public
 */
export const pluginLifecycleDeploymentAnalysisExtensionPoint =
  createExtensionPoint<PluginLifecycleDeploymentAnalysisExtensionPoint>({
    id: 'plugin-lifecycle.deployment-analysis',
  });
