// The original design's "Event System", as written.
import { getPluginLifecycleOrchestrationSystem } from '../orchestration';

export function eventSystem() {
  const orchestration = getPluginLifecycleOrchestrationSystem();

  orchestration.on('systemEvent', (event) => {
    console.log(`[${event.component}] ${event.event}:`, event.args);
  });

  // Component-specific events
  orchestration.on('orchestrator:operationCompleted', (result) => {
    console.log('Operation completed:', result.operationId);
  });

  orchestration.on('healthMonitor:healthCheckFailed', (result) => {
    console.log('Health check failed for:', result.pluginId);
  });

  orchestration.on('deploymentManager:deploymentCompleted', (deployment) => {
    console.log('Deployment completed:', deployment.deploymentId);
  });

  return orchestration;
}
