import { ProbeScheduler } from './ProbeScheduler';

interface Item {
  name: string;
}

/** A promise and the function that resolves it. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>(r => (resolve = r));
  return { promise, resolve };
}

async function until(condition: () => boolean) {
  while (!condition()) await new Promise(r => setTimeout(r, 1));
}

describe('ProbeScheduler', () => {
  const items = (n: number): Item[] =>
    Array.from({ length: n }, (_, i) => ({ name: `item-${i}` }));

  it('runs items in the order they are due', async () => {
    const ran: string[] = [];
    const scheduler = new ProbeScheduler<Item>({
      run: async item => {
        ran.push(item.name);
      },
      maxConcurrent: 1,
      now: Date.now,
      slackMs: 0,
    });
    const [a, b, c] = items(3);
    const now = Date.now();
    scheduler.schedule(c, now + 30);
    scheduler.schedule(a, now + 10);
    scheduler.schedule(b, now + 20);
    await until(() => ran.length === 3);
    expect(ran).toEqual(['item-0', 'item-1', 'item-2']);
    expect(scheduler.started).toBe(3);
    await scheduler.stop();
  });

  it('replaces a pending run when an item is rescheduled, and drops it when unscheduled', async () => {
    const ran: string[] = [];
    const scheduler = new ProbeScheduler<Item>({
      run: async item => {
        ran.push(item.name);
      },
      maxConcurrent: 4,
      now: Date.now,
    });
    const [a, b, c] = items(3);
    const now = Date.now();
    scheduler.schedule(a, now + 1_000_000);
    scheduler.schedule(b, now + 5);
    scheduler.schedule(a, now); // earlier now: one run only
    scheduler.schedule(c, now);
    scheduler.unschedule(c);
    expect(scheduler.pending).toBe(2);
    await until(() => ran.length === 2);
    await new Promise(r => setTimeout(r, 20));
    expect(ran.sort()).toEqual(['item-0', 'item-1']);
    expect(scheduler.pending).toBe(0);
    await scheduler.stop();
  });

  it('never runs more than maxConcurrent at once, and runs the rest as slots free', async () => {
    let running = 0;
    let most = 0;
    const open: Array<() => void> = [];
    const scheduler = new ProbeScheduler<Item>({
      run: async () => {
        running++;
        most = Math.max(most, running);
        const gate = deferred();
        open.push(gate.resolve);
        await gate.promise;
        running--;
      },
      maxConcurrent: 3,
      maxStartsPerTurn: 2,
      now: Date.now,
    });
    items(10).forEach(item => scheduler.schedule(item, Date.now()));
    await until(() => open.length === 3);
    expect(scheduler.running).toBe(3);
    expect(scheduler.pending).toBe(7);
    // Each run that finishes frees a slot for the next.
    for (let finished = 0; finished < 10; finished++) {
      await until(() => open.length > 0);
      open.shift()!();
    }
    await until(() => scheduler.running === 0);
    expect(scheduler.started).toBe(10);
    expect(most).toBe(3);
    await scheduler.stop();
  });

  it('reports what a run throws and keeps going', async () => {
    const errors: string[] = [];
    const ran: string[] = [];
    const scheduler = new ProbeScheduler<Item>({
      run: async item => {
        ran.push(item.name);
        if (item.name === 'item-0') throw new Error('boom');
      },
      maxConcurrent: 2,
      now: Date.now,
      onError: (error, item) => errors.push(`${item.name}: ${error}`),
    });
    const [a, b] = items(2);
    scheduler.schedule(a, Date.now());
    scheduler.schedule(b, Date.now() + 5);
    await until(() => ran.length === 2 && errors.length === 1);
    expect(errors).toEqual(['item-0: Error: boom']);
    await scheduler.stop();
  });

  it('waits on stop for the runs in flight and starts no more', async () => {
    const gate = deferred();
    const ran: string[] = [];
    const scheduler = new ProbeScheduler<Item>({
      run: async item => {
        ran.push(item.name);
        await gate.promise;
      },
      maxConcurrent: 1,
      now: Date.now,
    });
    const [a, b] = items(2);
    scheduler.schedule(a, Date.now());
    scheduler.schedule(b, Date.now());
    await until(() => ran.length === 1);
    let stopped = false;
    const stopping = scheduler.stop().then(() => (stopped = true));
    await new Promise(r => setTimeout(r, 5));
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(ran).toEqual(['item-0']);
    scheduler.schedule(b, Date.now());
    expect(scheduler.pending).toBe(0);
  });

  it('keeps thousands of items due every few ms in due order', async () => {
    const order: number[] = [];
    const scheduler = new ProbeScheduler<{ due: number }>({
      run: async item => {
        order.push(item.due);
      },
      maxConcurrent: 10_000,
      maxStartsPerTurn: 1_000_000,
      now: Date.now,
      slackMs: 0,
    });
    const start = Date.now() + 20;
    const all = Array.from({ length: 5000 }, (_, i) => ({
      due: start + ((i * 7919) % 5000) / 100,
    }));
    all.forEach(item => scheduler.schedule(item, item.due));
    await until(() => order.length === 5000);
    // Started in due order up to the timer's granularity.
    for (let i = 1; i < order.length; i++) {
      expect(order[i]).toBeGreaterThanOrEqual(order[i - 1] - 1);
    }
    await scheduler.stop();
  });
});
