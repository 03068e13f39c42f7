import { InputError } from '@backstage/errors';
import { validationMessage } from '@internal/plugin-lifecycle-common';
import { z } from 'zod';
import { MAX_SUBSETS } from '../../domain/loadBalancing';
import { ServiceSubsets } from './discoveryTypes';
import { Pool } from './DiscoveryView';

/**
 * Subset weights as {@link ServiceDiscovery.setSubsetWeights} takes them:
 * subset key (`track/version`, or `track` for unversioned instances) to a
 * whole-number share; `{}` ends the split.
 */
const subsetWeightsSchema = z
  .record(
    z.string().min(1).max(512),
    z.number().int('must be a whole number').min(0).max(1_000_000),
  )
  .refine(w => Object.keys(w).length <= MAX_SUBSETS, {
    message: `at most ${MAX_SUBSETS} subsets`,
  })
  .refine(
    w => Object.keys(w).length === 0 || Object.values(w).some(v => v > 0),
    { message: 'at least one subset needs a weight above 0' },
  );

/**
 * Parses subset weights; undefined for `{}` (no split). Throws an
 * `InputError` naming each problem.
 */
export function parseSubsetWeights(
  input: unknown,
): ReadonlyMap<string, number> | undefined {
  const parsed = subsetWeightsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new InputError(
      `Invalid subset weights: ${validationMessage(parsed.error)}`,
    );
  }
  const entries = Object.entries(parsed.data);
  return entries.length > 0 ? new Map(entries) : undefined;
}

/** A pool's subsets as the API answers them; one subset `*` of every instance when not split. */
export function subsetsOf(pool: Pool): ServiceSubsets {
  return {
    serviceName: pool.serviceName,
    tenant: pool.tenant,
    split: pool.subsets !== undefined,
    subsets: pool.subsets
      ? pool.subsets.map(s => ({
          key: s.key,
          weight: s.weight,
          instances: s.ids.length,
        }))
      : [{ key: '*', weight: 100, instances: pool.ids.length }],
    ...(pool.subsets && pool.match ? { match: pool.match } : {}),
  };
}
