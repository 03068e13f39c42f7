export { EntityHealthContent } from './EntityHealthContent';
export type { EntityHealthContentProps } from './EntityHealthContent';
