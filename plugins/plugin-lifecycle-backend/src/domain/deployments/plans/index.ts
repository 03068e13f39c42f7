export { planDeployment } from './planDeployment';
export type { PlanDeploymentInput } from './planDeployment';
