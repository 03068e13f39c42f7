export { EntityPluginLifecycleCard } from './EntityPluginLifecycleCard';
