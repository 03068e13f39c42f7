export interface Config {
  /** The demo backend's role policy (src/permissionPolicy.ts). */
  permissionPolicy?: {
    /**
     * Users and groups (entity refs) that may do everything in
     * plugin-lifecycle, secrets and service registration included.
     * Default: group:default/platform-team.
     */
    platformTeam?: string[];
  };
}
