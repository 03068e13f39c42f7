import { InputError } from '@backstage/errors';

/**
 * An instance count given as a number or as a percentage of the replicas
 * (`'25%'`), as Kubernetes reads `maxSurge` (round `up`) and
 * `maxUnavailable` (round `down`).
 *
 * @public
 */
export function resolveCount(
  value: number | string,
  replicas: number,
  round: 'up' | 'down',
): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) {
      throw new InputError(
        `must be a whole number of at least 0, got ${value}`,
      );
    }
    return value;
  }
  const match = /^(\d{1,3})%$/.exec(value);
  if (!match) {
    throw new InputError(
      `must be a whole number or a percentage such as 25%, got '${value}'`,
    );
  }
  // replicas * percent is a whole number, so the division is exact when it can be.
  const exact = (replicas * Number(match[1])) / 100;
  return round === 'up' ? Math.ceil(exact) : Math.floor(exact);
}
