import { FairnessCandidate, fairOrder } from './fairness';

interface Op extends FairnessCandidate {
  id: string;
}

function op(tenant: string, seq: number, priority = 0): Op {
  return { id: `${tenant}-${seq}`, tenant, seq, priority };
}

const ids = (ops: Op[]) => ops.map(o => o.id);

describe('fairOrder', () => {
  it('returns an empty list for no candidates', () => {
    expect(fairOrder([])).toEqual([]);
  });

  it('keeps a single tenant in priority, then seq order', () => {
    const ops = [op('a', 3), op('a', 1), op('a', 2, 5), op('a', 4, 5)];
    expect(ids(fairOrder(ops))).toEqual(['a-2', 'a-4', 'a-1', 'a-3']);
  });

  it('does not let a busy tenant starve a quiet one', () => {
    const ops: Op[] = [];
    for (let seq = 1; seq <= 1000; seq++) ops.push(op('A', seq));
    ops.push(op('B', 1001));
    const ordered = fairOrder(ops);
    expect(ordered).toHaveLength(1001);
    expect(ids(ordered).indexOf('B-1001')).toBeLessThan(2);
    expect(ids(ordered.slice(0, 2)).sort()).toEqual(['A-1', 'B-1001']);
    // A's operations keep their own order
    expect(ids(ordered.filter(o => o.tenant === 'A'))).toEqual(
      ops.slice(0, 1000).map(o => o.id),
    );
  });

  it('takes turns between tenants', () => {
    const ops = [
      op('a', 1),
      op('a', 2),
      op('a', 3),
      op('b', 4),
      op('b', 5),
      op('c', 6),
    ];
    expect(ids(fairOrder(ops))).toEqual([
      'a-1',
      'b-4',
      'c-6',
      'a-2',
      'b-5',
      'a-3',
    ]);
  });

  it('puts higher priority first within a tenant and within a turn', () => {
    const ops = [op('a', 1), op('a', 2, 10), op('b', 3, 5), op('b', 4)];
    // turn 1: a-2 (10), b-3 (5); turn 2: a-1, b-4
    expect(ids(fairOrder(ops))).toEqual(['a-2', 'b-3', 'a-1', 'b-4']);
  });

  it('does not let one tenant jump the turns with a high priority', () => {
    const ops = [op('a', 1, 100), op('a', 2, 100), op('b', 3, 0)];
    expect(ids(fairOrder(ops))).toEqual(['a-1', 'b-3', 'a-2']);
  });

  it('breaks ties by seq, then by input order', () => {
    const first = op('a', 1);
    const twin = { ...op('a', 1), id: 'a-1-twin' };
    const ops = [op('b', 2), twin, first];
    expect(ids(fairOrder(ops))).toEqual(['a-1-twin', 'b-2', 'a-1']);
  });

  it('handles negative priorities', () => {
    const ops = [op('a', 1, -1), op('a', 2, 0), op('a', 3, -5)];
    expect(ids(fairOrder(ops))).toEqual(['a-2', 'a-1', 'a-3']);
  });

  it('does not modify its input and keeps the objects', () => {
    const ops = [op('b', 2), op('a', 1)];
    const copy = [...ops];
    const ordered = fairOrder(ops);
    expect(ops).toEqual(copy);
    expect(ordered[0]).toBe(ops[1]);
  });

  it('holds its properties on random queues', () => {
    let seed = 99;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let run = 0; run < 200; run++) {
      const tenantCount = 1 + Math.floor(random() * 5);
      const ops: Op[] = Array.from(
        { length: Math.floor(random() * 40) },
        (_, seq) =>
          op(
            `t${Math.floor(random() * tenantCount)}`,
            seq,
            Math.floor(random() * 3),
          ),
      );
      const ordered = fairOrder(ops);
      expect([...ordered].sort((x, y) => x.seq - y.seq)).toEqual(ops);

      const before = (p: Op, q: Op) =>
        p.priority > q.priority || (p.priority === q.priority && p.seq < q.seq);
      const seen = new Map<string, number>();
      const rankOf = ordered.map(o => {
        const rank = seen.get(o.tenant) ?? 0;
        seen.set(o.tenant, rank + 1);
        return rank;
      });
      for (let i = 1; i < ordered.length; i++) {
        // ranks never go down, and within a turn priority desc, seq asc
        expect(
          rankOf[i] > rankOf[i - 1] ||
            (rankOf[i] === rankOf[i - 1] && before(ordered[i - 1], ordered[i])),
        ).toBe(true);
      }
      // within a tenant: priority desc, then seq asc
      for (const tenant of seen.keys()) {
        const mine = ordered.filter(o => o.tenant === tenant);
        expect(mine.every((o, i) => i === 0 || before(mine[i - 1], o))).toBe(
          true,
        );
      }
    }
  });
});
