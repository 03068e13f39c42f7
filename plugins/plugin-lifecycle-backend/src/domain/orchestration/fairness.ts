/**
 * The fields of a claimable operation that {@link fairOrder} looks at.
 *
 * @public
 */
export interface FairnessCandidate {
  tenant: string;
  /** Higher runs first within a tenant. */
  priority: number;
  /** Enqueue sequence; lower is older. */
  seq: number;
}

/**
 * Orders claimable operations so that tenants take turns: each tenant's
 * best operation comes before any tenant's second best, and so on. A tenant
 * with a thousand queued operations therefore cannot starve a tenant with
 * one.
 *
 * Within a tenant, operations are ranked by priority (highest first), then
 * by seq (oldest first). The result is sorted by that rank, then by priority
 * and seq across tenants. Ties keep the input order. The input is not
 * modified.
 *
 * @public
 */
export function fairOrder<T extends FairnessCandidate>(candidates: T[]): T[] {
  interface Entry {
    candidate: T;
    index: number;
    rank: number;
  }
  const byPriorityThenSeq = (a: Entry, b: Entry) =>
    b.candidate.priority - a.candidate.priority ||
    a.candidate.seq - b.candidate.seq ||
    a.index - b.index;

  const byTenant = new Map<string, Entry[]>();
  candidates.forEach((candidate, index) => {
    const entry = { candidate, index, rank: 0 };
    const list = byTenant.get(candidate.tenant);
    if (list) list.push(entry);
    else byTenant.set(candidate.tenant, [entry]);
  });

  const entries: Entry[] = [];
  for (const list of byTenant.values()) {
    list.sort(byPriorityThenSeq).forEach((entry, rank) => {
      entry.rank = rank;
      entries.push(entry);
    });
  }

  return entries
    .sort((a, b) => a.rank - b.rank || byPriorityThenSeq(a, b))
    .map(entry => entry.candidate);
}
