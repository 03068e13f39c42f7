/**
 * Which backend replica probes which target: rendezvous (highest random
 * weight) hashing. Every replica scores every target and the highest score
 * wins, so all replicas agree from the same list of live replicas alone,
 * and a replica that leaves gives up only its own targets (each to the
 * replica with its next-highest score), while one that joins takes only
 * the targets it now wins.
 */

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnv1a(text: string, state: number): number {
  let h = state;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  }
  return h >>> 0;
}

/** MurmurHash3's finalizer: FNV-1a alone mixes the last characters poorly. */
function fmix32(hash: number): number {
  let h = hash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A well mixed 32-bit hash of a string (FNV-1a, then MurmurHash3's
 * finalizer). Not for security.
 *
 * @public
 */
export function stableHash32(text: string): number {
  return fmix32(fnv1a(text, FNV_OFFSET_BASIS));
}

/**
 * A number in [0, 1) fixed for the text: a phase that spreads the first
 * runs of many probes over their period.
 *
 * @public
 */
export function stableFraction(text: string): number {
  return stableHash32(text) / 0x100000000;
}

/**
 * Scores targets for a fixed list of replicas, hashing each replica's id
 * once.
 *
 * @public
 */
export class RendezvousAssigner {
  readonly replicas: readonly string[];
  readonly #seeds: number[];

  /** The replicas in any order; duplicates count once. */
  constructor(replicas: Iterable<string>) {
    this.replicas = [...new Set(replicas)].sort();
    this.#seeds = this.replicas.map(r => fnv1a(`${r}\u0000`, FNV_OFFSET_BASIS));
  }

  /**
   * The replica that probes the target: the highest score, ties to the
   * greater id. Undefined when there are no replicas.
   */
  owner(targetId: string): string | undefined {
    let best = -1;
    let owner: string | undefined;
    for (let i = 0; i < this.#seeds.length; i++) {
      const score = fmix32(fnv1a(targetId, this.#seeds[i]));
      // replicas are sorted, so >= gives a tie to the later (greater) id
      if (score >= best) {
        best = score;
        owner = this.replicas[i];
      }
    }
    return owner;
  }

  /** The targets of each replica (every replica listed, maybe with none). */
  assign(targetIds: Iterable<string>): Map<string, string[]> {
    const result = new Map<string, string[]>(
      this.replicas.map(r => [r, [] as string[]]),
    );
    for (const target of targetIds) {
      const owner = this.owner(target);
      if (owner !== undefined) result.get(owner)!.push(target);
    }
    return result;
  }
}

/**
 * The replica that probes the target among the live replicas; undefined
 * when there are none.
 *
 * @public
 */
export function assignReplica(
  targetId: string,
  replicas: Iterable<string>,
): string | undefined {
  return new RendezvousAssigner(replicas).owner(targetId);
}
