import {
  BackstageCredentials,
  HttpAuthService,
  PermissionsService,
  UserInfoService,
} from '@backstage/backend-plugin-api';
import { NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  BasicPermission,
  PolicyDecision,
  isResourcePermission,
} from '@backstage/plugin-permission-common';
import { PluginLifecyclePluginPermission } from '@internal/plugin-lifecycle-common';
import { Request } from 'express';
import { ALL_TENANTS, TenantScope } from '../domain/tenancy';
import {
  PluginIdentity,
  PluginResources,
} from '../permissions/PluginResources';
import { PluginLifecyclePluginResource } from '../permissions/rules';

/** Who calls a route: the actor for the audit log and the tenants it may see. */
export type Caller = { actor?: string; scope: TenantScope };

/**
 * One permission check: a basic permission, or a permission on one managed
 * plugin (`resourceRef`: its id). A plugin permission without a resource
 * ref needs an unconditional allow: the route acts on more than one plugin.
 */
export type Access =
  | { permission: BasicPermission; resourceRef?: undefined }
  | {
      permission: PluginLifecyclePluginPermission;
      resourceRef?: string;
      /**
       * A plugin the request would create (it does not exist yet): the
       * policy's conditions are applied to it as the request describes it.
       */
      candidate?: PluginIdentity;
    };

/** Whether a conditional decision allows this plugin. */
export type ConditionApplier = (
  decision: PolicyDecision,
  resource: PluginLifecyclePluginResource | undefined,
) => boolean;

/** Keeps the items of a list the caller may see. */
export type ListFilter = <T extends PluginIdentity>(items: T[]) => Promise<T[]>;

/**
 * Answers the routes' permission questions through the permissions service:
 * single plugins by resource ref (conditional decisions are resolved by the
 * permission backend through this plugin's permission integration), lists
 * by applying the policy's conditions to each plugin here.
 */
export class RouteAuthorizer {
  readonly #httpAuth: HttpAuthService;
  readonly #userInfo: UserInfoService;
  readonly #permissions: PermissionsService;
  readonly #resources: PluginResources;
  readonly #applies: ConditionApplier;
  readonly #scopeForUser: (ownershipEntityRefs: string[]) => TenantScope;

  private constructor(options: {
    httpAuth: HttpAuthService;
    userInfo: UserInfoService;
    permissions: PermissionsService;
    resources: PluginResources;
    applies: ConditionApplier;
    scopeForUser: (ownershipEntityRefs: string[]) => TenantScope;
  }) {
    this.#httpAuth = options.httpAuth;
    this.#userInfo = options.userInfo;
    this.#permissions = options.permissions;
    this.#resources = options.resources;
    this.#applies = options.applies;
    this.#scopeForUser = options.scopeForUser;
  }

  static create(options: {
    httpAuth: HttpAuthService;
    userInfo: UserInfoService;
    permissions: PermissionsService;
    resources: PluginResources;
    /** `createConditionAuthorizer` of the resource type's rules. */
    applies: ConditionApplier;
    /** The tenants of a user given its ownership refs. */
    scopeForUser: (ownershipEntityRefs: string[]) => TenantScope;
  }) {
    return new RouteAuthorizer(options);
  }

  /** Checks every access at once; the first refused one is the 403. */
  async authorize(req: Request, ...checks: Access[]): Promise<Caller> {
    const credentials = await this.#credentials(req);
    const fresh = checks.filter(c => 'candidate' in c && c.candidate);
    const single = checks.filter(
      c =>
        !fresh.includes(c) &&
        (!isResourcePermission(c.permission) || c.resourceRef !== undefined),
    );
    const whole = checks.filter(c => !single.includes(c) && !fresh.includes(c));
    const [decisions, wholeDecisions] = await Promise.all([
      single.length
        ? this.#permissions.authorize(
            single.map(c =>
              c.resourceRef === undefined
                ? { permission: c.permission as BasicPermission }
                : {
                    permission: c.permission as PluginLifecyclePluginPermission,
                    resourceRef: c.resourceRef,
                  },
            ),
            { credentials },
          )
        : [],
      whole.length
        ? this.#permissions.authorizeConditional(
            whole.map(c => ({
              permission: c.permission as PluginLifecyclePluginPermission,
            })),
            { credentials },
          )
        : [],
    ]);
    await this.#authorizeCandidates(fresh, credentials);
    single.forEach((check, i) => {
      if (decisions[i].result !== AuthorizeResult.ALLOW) refuse(check);
    });
    whole.forEach((check, i) => {
      if (wholeDecisions[i].result !== AuthorizeResult.ALLOW) refuse(check);
    });
    return this.#caller(credentials);
  }

  /**
   * For lists: an unconditional allow keeps every plugin, a conditional one
   * keeps those its conditions allow, a denial is a 403.
   */
  async authorizeList(
    req: Request,
    permission: PluginLifecyclePluginPermission,
  ): Promise<Caller & { filter: ListFilter; unconditional?: boolean }> {
    const credentials = await this.#credentials(req);
    const [decision] = await this.#permissions.authorizeConditional(
      [{ permission }],
      { credentials },
    );
    if (decision.result === AuthorizeResult.DENY) refuse({ permission });
    const caller = await this.#caller(credentials);
    if (decision.result === AuthorizeResult.ALLOW) {
      return { ...caller, filter: async items => items, unconditional: true };
    }
    const filter: ListFilter = async items => {
      const resources = await this.#resources.of(items);
      return items.filter((_, i) => this.#applies(decision, resources[i]));
    };
    return { ...caller, filter, unconditional: false };
  }

  /** Plugins a request would create, judged as it describes them. */
  async #authorizeCandidates(
    checks: Access[],
    credentials: BackstageCredentials,
  ) {
    if (checks.length === 0) return;
    const decisions = await this.#permissions.authorizeConditional(
      checks.map(c => ({
        permission: c.permission as PluginLifecyclePluginPermission,
      })),
      { credentials },
    );
    const candidates = checks.map(
      c => (c as { candidate: PluginIdentity }).candidate,
    );
    const resources = await this.#resources.of(candidates);
    checks.forEach((check, i) => {
      const decision = decisions[i];
      if (decision.result === AuthorizeResult.ALLOW) return;
      if (
        decision.result === AuthorizeResult.CONDITIONAL &&
        this.#applies(decision, resources[i])
      ) {
        return;
      }
      refuse(check);
    });
  }

  #credentials(req: Request) {
    return this.#httpAuth.credentials(req, { allow: ['user', 'service'] });
  }

  async #caller(
    credentials: BackstageCredentials<
      | { type: 'user'; userEntityRef: string }
      | { type: 'service'; subject: string }
    >,
  ): Promise<Caller> {
    if (credentials.principal.type === 'user') {
      const info = await this.#userInfo.getUserInfo(credentials);
      return {
        actor: info.userEntityRef,
        scope: this.#scopeForUser(info.ownershipEntityRefs),
      };
    }
    // Other backend plugins act for the whole installation.
    return {
      actor: (credentials.principal as { subject: string }).subject,
      scope: ALL_TENANTS,
    };
  }
}

function refuse(check: Access): never {
  throw new NotAllowedError(`Not allowed: ${check.permission.name}`);
}
