import { AuditorService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import {
  PluginLifecyclePluginPermission,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { Request } from 'express';
import { z } from 'zod';
import type {
  Access,
  Caller,
  ListFilter,
  RouteAuthorizer,
} from './RouteAuthorizer';

export type { Caller };

/** Who is calling and which tenants it may act on. */

/** What every route module borrows from the main router. */
export interface RouteAccess {
  /**
   * Checks the permission (on the plugin `resourceRef` names, or else
   * unconditionally); says who the caller is and its tenants.
   */
  authorize: (
    req: Request,
    permission: Access['permission'],
    resourceRef?: string,
  ) => Promise<Caller>;
  /**
   * For lists: the permission, and a filter keeping the plugins it allows
   * (`unconditional`: every plugin, so also what is about no plugin).
   */
  authorizeList: (
    req: Request,
    permission: PluginLifecyclePluginPermission,
  ) => Promise<Caller & { filter: ListFilter; unconditional?: boolean }>;
  /**
   * Checks the accesses, then runs a mutation with an audit record of who
   * did what and how it ended; `summarize` says what of the result the
   * record keeps (default: all of it).
   */
  audited: <T>(
    req: Request,
    access: Access | Access[],
    eventId: string,
    meta: Record<string, string>,
    fn: (caller: Caller) => Promise<T>,
    summarize?: (result: T) => unknown,
  ) => Promise<T>;
}

/** Validates a body or query; a failure is a 400 naming each field. */
export function parseInput<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new InputError(`Invalid ${what}: ${validationMessage(result.error)}`);
  }
  return result.data;
}

/**
 * The permission checks and the audited mutations every endpoint uses,
 * over the route authorizer and the auditor.
 */
export function createRouteAccess(options: {
  authorizer: RouteAuthorizer;
  auditor: AuditorService;
}): RouteAccess {
  const { authorizer, auditor } = options;
  return {
    authorize: (req, permission, resourceRef) =>
      authorizer.authorize(req, { permission, resourceRef } as Access),
    authorizeList: (req, permission) =>
      authorizer.authorizeList(req, permission),
    audited: async (req, access, eventId, meta, fn, summarize) => {
      const caller = await authorizer.authorize(
        req,
        ...(Array.isArray(access) ? access : [access]),
      );
      const event = await auditor.createEvent({ eventId, request: req, meta });
      try {
        const result = await fn(caller);
        const summary = summarize ? summarize(result) : result;
        await event.success({
          meta: { result: JSON.parse(JSON.stringify(summary ?? null)) },
        });
        return result;
      } catch (error) {
        await event.fail({ error: error as Error });
        throw error;
      }
    },
  };
}
