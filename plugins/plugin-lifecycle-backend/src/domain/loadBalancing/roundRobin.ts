import { InstancePool, Strategy } from './InstancePool';

/**
 * Plain round robin: each allowed instance in turn, in the order given.
 * Instances that may not take traffic are skipped without losing their
 * place, so a pick costs O(1) while most instances are allowed.
 */
export class RoundRobin implements Strategy {
  readonly #pool: InstancePool;
  #next = 0;

  constructor(pool: InstancePool) {
    this.#pool = pool;
  }

  pick(_client: unknown, panic: boolean): number {
    const pool = this.#pool;
    const allowed = panic ? pool.candidate : pool.eligible;
    const n = pool.size;
    let i = this.#next;
    for (let step = 0; step < n; step++, i++) {
      if (i >= n) i = 0;
      if (allowed[i] === 1) {
        this.#next = i + 1;
        return i;
      }
    }
    return -1;
  }
}
