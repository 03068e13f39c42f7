// The original design's "Basic Plugin Installation", as written (in a
// function, so the test runs it; it answers what the design keeps).
import { getPluginLifecycleOrchestrationSystem } from '../orchestration';

export async function basicPluginInstallation() {
  const orchestration = getPluginLifecycleOrchestrationSystem();

  // Install a plugin with configuration
  const result = await orchestration.installPlugin('my-plugin', '1.0.0', {
    userId: 'admin',
    environment: 'production',
    configuration: [
      {
        key: 'database.url',
        value: 'postgresql://localhost:5432/mydb',
        type: 'string',
        required: true
      }
    ],
    healthProbes: [
      {
        name: 'http-health',
        type: 'liveness',
        method: 'http',
        http: {
          path: '/health',
          expectedStatusCodes: [200]
        },
        periodSeconds: 30,
        failureThreshold: 3
      }
    ]
  });

  return result;
}
