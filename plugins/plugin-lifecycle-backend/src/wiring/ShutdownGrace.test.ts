import { EventEmitter } from 'node:events';
import { mockServices } from '@backstage/backend-test-utils';
import { ShutdownGrace } from './ShutdownGrace';

function fakeProcess() {
  const emitter = new EventEmitter();
  const exit = jest.fn();
  return Object.assign(emitter, { exit });
}

describe('ShutdownGrace', () => {
  let now = 0;
  beforeEach(() => {
    jest.useFakeTimers();
    now = 1_000_000;
  });
  afterEach(() => jest.useRealTimers());

  const create = (
    proc: ReturnType<typeof fakeProcess>,
    beforeForcedExit?: () => void,
  ) =>
    ShutdownGrace.create({
      gracePeriodMs: 10_000,
      marginMs: 1_000,
      logger: mockServices.logger.mock(),
      process: proc,
      now: () => now,
      beforeForcedExit,
    });

  it('counts the grace period from the first signal, not from the hook', () => {
    const proc = fakeProcess();
    const grace = create(proc);
    grace.listen();
    proc.emit('SIGTERM');
    now += 3_000; // Backstage's serverShutdownDelay, other hooks
    expect(grace.remainingMs()).toBe(7_000);
    now += 8_000;
    expect(grace.remainingMs()).toBe(0);
    grace.dispose();
  });

  it('without a signal, begins when asked', () => {
    const proc = fakeProcess();
    const grace = create(proc);
    grace.listen();
    now += 60_000;
    expect(grace.remainingMs()).toBe(10_000);
    now += 4_000;
    expect(grace.remainingMs()).toBe(6_000);
    // No signal, no forced exit (a test's backend.stop()).
    jest.advanceTimersByTime(60_000);
    expect(proc.exit).not.toHaveBeenCalled();
    grace.dispose();
  });

  it('after a signal, forces the exit at the deadline plus the margin, after the last-chance hook', () => {
    const proc = fakeProcess();
    const order: string[] = [];
    proc.exit.mockImplementation(() => order.push('exit'));
    const grace = create(proc, () => order.push('kill instances'));
    grace.listen();
    proc.emit('SIGINT');
    jest.advanceTimersByTime(10_999);
    expect(proc.exit).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(order).toEqual(['kill instances', 'exit']);
    expect(proc.exit).toHaveBeenCalledWith(1);
  });

  it('exits even when the last-chance hook throws', () => {
    const proc = fakeProcess();
    const grace = create(proc, () => {
      throw new Error('boom');
    });
    grace.listen();
    proc.emit('SIGTERM');
    expect(() => jest.advanceTimersByTime(11_000)).toThrow('boom');
    expect(proc.exit).toHaveBeenCalledWith(1);
  });

  it('leaves a second signal to Backstage and stops listening when done', () => {
    const proc = fakeProcess();
    const grace = create(proc);
    grace.listen();
    expect(proc.listenerCount('SIGTERM')).toBe(1);
    proc.emit('SIGTERM');
    // Once: the second signal is Backstage's (it exits at once).
    expect(proc.listenerCount('SIGTERM')).toBe(0);
    expect(proc.listenerCount('SIGINT')).toBe(0);
    grace.dispose();
    jest.advanceTimersByTime(60_000);
    expect(proc.exit).not.toHaveBeenCalled();

    const other = create(proc);
    other.listen();
    other.unlisten();
    expect(proc.listenerCount('SIGTERM')).toBe(0);
  });

  it('refuses a negative grace period', () => {
    expect(() =>
      ShutdownGrace.create({
        gracePeriodMs: -1,
        logger: mockServices.logger.mock(),
      }),
    ).toThrow(/gracePeriodMs/);
  });
});
