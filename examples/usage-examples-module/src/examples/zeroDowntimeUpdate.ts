// The original design's "Zero-Downtime Plugin Update", as written. The
// design's snippet goes on from the installation one: `orchestration` and
// `DeploymentStrategy` come from there.
import {
  DeploymentStrategy,
  getPluginLifecycleOrchestrationSystem,
} from '../orchestration';

export async function zeroDowntimeUpdate() {
  const orchestration = getPluginLifecycleOrchestrationSystem();

  // Update plugin with canary deployment
  const deployment = await orchestration.updatePlugin('my-plugin', '1.1.0', {
    userId: 'admin',
    environment: 'production',
    deploymentStrategy: DeploymentStrategy.CANARY,
    deploymentConfig: {
      canary: {
        trafficIncrement: 25,
        incrementInterval: 300000, // 5 minutes
        successThreshold: 99,
        errorThreshold: 1,
        autoPromote: true
      }
    }
  });

  console.log(`Deployment ${deployment.deploymentId} started`);

  return deployment;
}
