import {
  formatCounts,
  formatLatency,
  formatMeanLatency,
  formatPercent,
  formatScore,
  probeStatusText,
  probeTone,
  sparklinePoints,
  verdictTone,
} from './format';

function result(latencyMs: number, ok = true) {
  return { ok, latencyMs, checkedAt: '2025-01-01T10:00:00.000Z' };
}

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
  });

  it('draws the latencies of successful runs, oldest first', () => {
    // Newest first, as the API lists them: 30, (failed), 10, 20.
    const recent = [result(30), result(5000, false), result(10), result(20)];
    expect(sparklinePoints(recent, 100, 20)).toBe('0,10 50,20 100,0');
  });

  it('draws equal latencies through the middle, and nothing for one', () => {
    expect(sparklinePoints([result(2), result(2)], 10, 20)).toBe('0,10 10,10');
    expect(sparklinePoints([result(2)], 10, 20)).toBe('');
    expect(sparklinePoints([result(2), result(9, false)], 10, 20)).toBe('');
  });
});
