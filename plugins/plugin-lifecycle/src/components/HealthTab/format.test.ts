import {
  formatCounts,
  formatLatency,
  formatMeanLatency,
  formatPercent,
  formatScore,
  isPluginUnchecked,
  isUnchecked,
  probeStatusText,
  probeTone,
  verdictTone,
} from './format';
import { makeInstance, mixedHealth } from './__fixtures__/health';

describe('health formatting', () => {
  it.each([
    ['healthy', 'ok'],
    ['degrading', 'warning'],
    ['flapping', 'warning'],
    ['unhealthy', 'error'],
    ['down', 'error'],
    ['starting', 'pending'],
    ['unknown', 'pending'],
  ] as const)('shows a %s verdict as %s', (verdict, tone) => {
    expect(verdictTone(verdict)).toBe(tone);
  });

  it('colours probes by status, a held one as pending', () => {
    expect(probeTone({ status: 'passing', held: false })).toBe('ok');
    expect(probeTone({ status: 'failing', held: false })).toBe('error');
    expect(probeTone({ status: 'unknown', held: false })).toBe('pending');
    expect(probeTone({ status: 'failing', held: true })).toBe('pending');
    expect(probeStatusText({ status: 'unknown', held: true })).toBe('held');
    expect(probeStatusText({ status: 'passing', held: false })).toBe('passing');
  });

  it('formats latencies, rates and scores', () => {
    expect(formatLatency(undefined)).toBe('');
    expect(formatLatency(0.4219)).toBe('0.42 ms');
    expect(formatLatency(3)).toBe('3 ms');
    expect(formatLatency(12.6)).toBe('13 ms');
    expect(formatLatency(1500)).toBe('1.5 s');
    expect(
      formatMeanLatency({
        latencyMs: 12,
        latencyStdDevMs: 3,
        degrading: false,
        flapping: false,
        reasons: [],
      }),
    ).toBe('12 ms ± 3 ms');
    expect(
      formatMeanLatency({ degrading: false, flapping: false, reasons: [] }),
    ).toBe('');
    expect(formatPercent(undefined)).toBe('');
    expect(formatPercent(0.956)).toBe('96%');
    expect(formatScore(0.5)).toBe('0.50');
  });

  it('counts instances by verdict, healthy first', () => {
    expect(formatCounts({ starting: 1, healthy: 2 })).toBe(
      '2 healthy, 1 starting',
    );
    expect(formatCounts({})).toBe('');
    expect(formatCounts({ healthy: 1 }, 2)).toBe('1 healthy, 2 not checked');
    expect(formatCounts({}, 1)).toBe('1 not checked');
  });

  it('tells an instance nothing checks from a checked one', () => {
    const unchecked = makeInstance({
      verdict: 'unknown',
      probes: [],
      ready: true,
      live: true,
    });
    expect(isUnchecked(unchecked)).toBe(true);
    expect(isUnchecked(makeInstance())).toBe(false);
    expect(
      isPluginUnchecked({ ...mixedHealth, instances: [unchecked, unchecked] }),
    ).toBe(true);
    expect(
      isPluginUnchecked({
        ...mixedHealth,
        instances: [unchecked, makeInstance()],
      }),
    ).toBe(false);
    expect(isPluginUnchecked({ ...mixedHealth, instances: [] })).toBe(false);
  });
});
