export { basicPluginInstallation } from './basicPluginInstallation';
export { zeroDowntimeUpdate } from './zeroDowntimeUpdate';
export { healthMonitoringSetup } from './healthMonitoringSetup';
export { dynamicConfigurationManagement } from './dynamicConfigurationManagement';
export { serviceDiscoveryIntegration } from './serviceDiscoveryIntegration';
export { eventSystem } from './eventSystem';
export { metricsAndMonitoring } from './metricsAndMonitoring';
