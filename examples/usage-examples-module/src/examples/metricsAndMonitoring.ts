// The original design's "Metrics and Monitoring", as written.
import { getPluginLifecycleOrchestrationSystem } from '../orchestration';

export async function metricsAndMonitoring() {
  const orchestration = getPluginLifecycleOrchestrationSystem();

  const metrics = await orchestration.getSystemMetrics();

  console.log('System Health:', {
    healthyPlugins: metrics.healthMonitoring.healthyPlugins,
    activeDeployments: metrics.deployment.activeDeployments,
    successRate: metrics.deployment.successRate,
    averageResponseTime: metrics.serviceDiscovery.averageResponseTime
  });

  return metrics;
}
