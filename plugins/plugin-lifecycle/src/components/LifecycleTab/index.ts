export { EntityLifecycleContent } from './EntityLifecycleContent';
export type { EntityLifecycleContentProps } from './EntityLifecycleContent';
