export {
  PluginLifecycleFleetContent,
  PluginLifecycleFleetPage,
} from './FleetContent';
