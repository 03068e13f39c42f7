import { SignalCoalescer } from './SignalCoalescer';
import { SignalTarget } from './signalOf';

describe('SignalCoalescer', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function coalescer() {
    const sent: SignalTarget[] = [];
    const c = new SignalCoalescer({
      windowMs: 200,
      send: t => sent.push(t),
    });
    return { c, sent };
  }

  it('sends the first signal at once and the latest of a burst when the window closes', () => {
    const { c, sent } = coalescer();
    for (let i = 1; i <= 20; i++) {
      c.push({ pluginId: 'a', kind: 'health', operationId: `op-${i}` });
    }
    expect(sent).toEqual([
      { pluginId: 'a', kind: 'health', operationId: 'op-1' },
    ]);
    jest.advanceTimersByTime(199);
    expect(sent).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(sent.map(s => s.operationId)).toEqual(['op-1', 'op-20']);
    // The trailing send opened another window; nothing more is pending.
    jest.advanceTimersByTime(1_000);
    expect(sent).toHaveLength(2);
  });

  it('keeps at most one signal per window through a long burst', () => {
    const { c, sent } = coalescer();
    // One event every 10 ms for 1 s.
    for (let t = 0; t < 1_000; t += 10) {
      c.push({ pluginId: 'a', kind: 'deployment' });
      jest.advanceTimersByTime(10);
    }
    jest.advanceTimersByTime(1_000);
    expect(sent.length).toBeGreaterThanOrEqual(5);
    expect(sent.length).toBeLessThanOrEqual(6);
  });

  it('coalesces per plugin and kind, never across them', () => {
    const { c, sent } = coalescer();
    c.push({ pluginId: 'a', kind: 'state' });
    c.push({ pluginId: 'a', kind: 'operation' });
    c.push({ pluginId: 'b', kind: 'state' });
    c.push({ pluginId: 'a', kind: 'state' });
    expect(sent).toEqual([
      { pluginId: 'a', kind: 'state' },
      { pluginId: 'a', kind: 'operation' },
      { pluginId: 'b', kind: 'state' },
    ]);
    jest.advanceTimersByTime(200);
    expect(sent).toHaveLength(4);
  });

  it('a signal after a quiet window goes out at once', () => {
    const { c, sent } = coalescer();
    c.push({ pluginId: 'a', kind: 'state' });
    jest.advanceTimersByTime(200);
    c.push({ pluginId: 'a', kind: 'state' });
    expect(sent).toHaveLength(2);
  });

  it('stop drops what is pending', () => {
    const { c, sent } = coalescer();
    c.push({ pluginId: 'a', kind: 'state' });
    c.push({ pluginId: 'a', kind: 'state' });
    c.stop();
    jest.advanceTimersByTime(1_000);
    expect(sent).toHaveLength(1);
  });
});
