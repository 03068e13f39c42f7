// The original design's "Service Discovery Integration", as written.
import { getPluginServiceDiscovery, LoadBalancingStrategy } from '../orchestration';

export async function serviceDiscoveryIntegration() {
  const serviceDiscovery = getPluginServiceDiscovery();

  // Register a service
  await serviceDiscovery.registerService({
    serviceId: 'my-plugin-api-1',
    pluginId: 'my-plugin',
    serviceName: 'my-plugin-api',
    serviceType: 'backend',
    version: '1.0.0',
    host: 'localhost',
    port: 8080,
    healthCheck: {
      endpoint: '/health',
      interval: 30000,
      timeout: 5000
    },
    loadBalancing: {
      weight: 100,
      maxConnections: 1000
    }
  });

  // Get load-balanced service instance
  const service = await serviceDiscovery.getLoadBalancedService(
    'my-plugin-api',
    { ip: '192.168.1.100' },
    LoadBalancingStrategy.HEALTH_WEIGHTED
  );

  return service;
}
