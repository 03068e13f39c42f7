/**
 * Which tenants a caller may see and change: every tenant, or a list.
 *
 * @public
 */
export type TenantScope = { all: true } | { all?: false; tenants: string[] };

/** @public */
export const ALL_TENANTS: TenantScope = { all: true };

/** Whether a caller with `scope` may see and change what `tenant` owns. */
export function inTenantScope(scope: TenantScope, tenant: string): boolean {
  return scope.all === true || scope.tenants.includes(tenant);
}
