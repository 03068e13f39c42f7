import { InputError } from '@backstage/errors';
import { BasicPermission } from '@backstage/plugin-permission-common';
import { Request } from 'express';
import { z } from 'zod';
import { TenantScope } from '../system/Tenancy';
import { zodMessage } from '../system/zodMessage';

/** Who is calling and which tenants it may act on. */
export type Caller = { actor?: string; scope: TenantScope };

/** What every route module borrows from the main router. */
export interface RouteAccess {
  /** Checks the permission; says who the caller is and its tenants. */
  authorize: (req: Request, permission: BasicPermission) => Promise<Caller>;
  /**
   * Runs a mutation with an audit record of who did what and how it ended;
   * `summarize` says what of the result the record keeps (default: all of it).
   */
  audited: <T>(
    req: Request,
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
    throw new InputError(`Invalid ${what}: ${zodMessage(result.error)}`);
  }
  return result.data;
}
