// The original design's "Health Monitoring Setup", as written.
import { getPluginHealthMonitor, ProbeType, ProbeMethod } from '../orchestration';

export async function healthMonitoringSetup() {
  const healthMonitor = getPluginHealthMonitor();

  // Register comprehensive health probes
  await healthMonitor.registerPluginProbes('my-plugin', [
    {
      name: 'startup-check',
      type: ProbeType.STARTUP,
      method: ProbeMethod.HTTP,
      http: { path: '/startup', timeout: 10000 },
      initialDelaySeconds: 10,
      failureThreshold: 5
    },
    {
      name: 'readiness-check', 
      type: ProbeType.READINESS,
      method: ProbeMethod.HTTP,
      http: { path: '/ready', timeout: 5000 },
      periodSeconds: 10,
      failureThreshold: 1
    },
    {
      name: 'liveness-check',
      type: ProbeType.LIVENESS, 
      method: ProbeMethod.HTTP,
      http: { path: '/health', timeout: 5000 },
      periodSeconds: 30,
      failureThreshold: 3,
      circuitBreaker: {
        enabled: true,
        failureThreshold: 5,
        recoveryTimeout: 30000
      }
    }
  ]);
}
