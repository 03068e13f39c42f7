export { EntityConfigurationContent } from './EntityConfigurationContent';
