import { InputError } from '@backstage/errors';
import {
  abMatchSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { z } from 'zod';
import { TrafficSplitStore } from '../../database/TrafficSplitStore';
import { MAX_SUBSETS, TrafficSplit } from '../../domain/loadBalancing';
import { poolKey } from './discoveryEntries';
import { DiscoveryView, PoolSplit } from './DiscoveryView';

const subsetKeySchema = z.string().min(1).max(512);

/**
 * A traffic split as {@link ServiceDiscovery.setTrafficSplit} takes it: the
 * weights as subset weights are (at least one above 0), and a match in the
 * deployment contract's A/B shape (`abMatchSchema`) plus its subset.
 */
const trafficSplitSchema = z
  .object({
    weights: z
      .record(
        subsetKeySchema,
        z.number().int('must be a whole number').min(0).max(1_000_000),
      )
      .refine(w => Object.keys(w).length <= MAX_SUBSETS, {
        message: `at most ${MAX_SUBSETS} subsets`,
      })
      .refine(w => Object.values(w).some(v => v > 0), {
        message: 'at least one subset needs a weight above 0',
      }),
    match: z
      .object({ subset: subsetKeySchema })
      .passthrough()
      .transform((match, ctx) => {
        const { subset, ...rest } = match;
        const parsed = abMatchSchema.safeParse(rest);
        if (!parsed.success) {
          for (const issue of parsed.error.issues) ctx.addIssue(issue as any);
          return z.NEVER;
        }
        return { subset, ...parsed.data };
      })
      .optional(),
  })
  .strict();

/** Parses a traffic split; throws an `InputError` naming each problem. */
export function parseTrafficSplit(input: unknown): TrafficSplit {
  const parsed = trafficSplitSchema.safeParse(input);
  if (!parsed.success) {
    throw new InputError(
      `Invalid traffic split: ${validationMessage(parsed.error)}`,
    );
  }
  return parsed.data;
}

function toPoolSplit(split: TrafficSplit): PoolSplit {
  return {
    weights: new Map(Object.entries(split.weights)),
    ...(split.match ? { match: split.match } : {}),
  };
}

/**
 * The stored traffic splits in discovery's view: written through to the
 * store and applied here before the write returns; other replicas re-read
 * them all when the change log shows a `split` change (at once on
 * PostgreSQL through NOTIFY, at the next poll otherwise), and every full
 * reload reads them too. Reads and this replica's writes take turns, so a
 * read begun before a write cannot undo it once applied.
 */
export class TrafficSplits {
  readonly #store: TrafficSplitStore;
  readonly #view: DiscoveryView;
  readonly #now: () => number;
  #turn: Promise<unknown> = Promise.resolve();

  constructor(options: {
    store: TrafficSplitStore;
    view: DiscoveryView;
    clock: () => number;
  }) {
    this.#store = options.store;
    this.#view = options.view;
    this.#now = options.clock;
  }

  /** Re-reads every stored split into the view. */
  reload(): Promise<void> {
    return this.#inTurn(async () => this.#apply(await this.#store.list()));
  }

  /** Stores a pool's split (undefined ends it) and applies it to the view. */
  write(
    tenant: string,
    serviceName: string,
    split: TrafficSplit | undefined,
  ): Promise<void> {
    return this.#inTurn(async () => {
      const now = new Date(this.#now());
      if (split) await this.#store.put(tenant, serviceName, split, now);
      else await this.#store.delete(tenant, serviceName, now);
      // All of them: as cheap as one for the few services a deployment
      // splits, and nothing another replica wrote meanwhile is skipped.
      this.#apply(await this.#store.list(), poolKey(tenant, serviceName));
    });
  }

  #apply(
    stored: Awaited<ReturnType<TrafficSplitStore['list']>>,
    written?: string,
  ) {
    this.#view.replaceSplits(
      new Map(
        stored.map(s => [poolKey(s.tenant, s.serviceName), toPoolSplit(s)]),
      ),
      written,
    );
  }

  #inTurn<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#turn.then(task, task);
    this.#turn = run.catch(() => undefined);
    return run;
  }
}
