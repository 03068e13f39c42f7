import {
  makeInstance,
  makeProbe,
  versionMetrics,
} from '../__fixtures__/health';
import {
  SUCCESS_WINDOW,
  instanceChartData,
  latencyKey,
  versionChartRows,
  versionKey,
} from './chartData';

const at = (s: number) =>
  new Date(Date.parse('2025-01-01T10:00:00.000Z') + s * 1000).toISOString();

describe('instanceChartData', () => {
  it('puts every result on one time line, oldest first, with the rolling success rate', () => {
    const instance = makeInstance({
      probes: [
        makeProbe({
          name: 'readiness',
          lastTransitionAt: undefined,
          trend: { degrading: false, flapping: false, reasons: [] },
          // Newest first, as the API lists them.
          recent: [
            { ok: true, latencyMs: 3, checkedAt: at(20) },
            {
              ok: false,
              latencyMs: 1000,
              message: 'timeout',
              checkedAt: at(10),
            },
            { ok: true, latencyMs: 2, checkedAt: at(0) },
          ],
        }),
        makeProbe({
          name: 'liveness',
          lastTransitionAt: undefined,
          trend: { degrading: false, flapping: false, reasons: [] },
          recent: [{ ok: true, latencyMs: 5, checkedAt: at(15) }],
        }),
      ],
    });
    const data = instanceChartData(instance);
    expect(data.probes).toEqual(['readiness', 'liveness']);
    expect(data.rows).toEqual([
      { t: Date.parse(at(0)), successRate: 100, [latencyKey('readiness')]: 2 },
      // A failure's latency is its timeout: not on the latency line.
      { t: Date.parse(at(10)), successRate: 50 },
      {
        t: Date.parse(at(15)),
        successRate: expect.closeTo((2 / 3) * 100),
        [latencyKey('liveness')]: 5,
      },
      { t: Date.parse(at(20)), successRate: 75, [latencyKey('readiness')]: 3 },
    ]);
    expect(data.markers).toEqual([
      {
        t: Date.parse(at(10)),
        probe: 'readiness',
        latencyMs: 1000,
        kind: 'failure',
        label: 'readiness failed: timeout',
      },
    ]);
    expect(data.changes.map(c => [c.t, c.label])).toEqual([
      [Date.parse(at(10)), 'readiness started failing'],
      [Date.parse(at(20)), 'readiness passed again'],
    ]);
  });

  it('counts the success rate over the last results only', () => {
    const recent = Array.from({ length: SUCCESS_WINDOW + 5 }, (_, i) => ({
      // The 5 oldest failed; the last SUCCESS_WINDOW passed.
      ok: i < SUCCESS_WINDOW,
      latencyMs: 1,
      checkedAt: at(100 - i),
    }));
    const data = instanceChartData(
      makeInstance({ probes: [makeProbe({ recent })] }),
    );
    expect(data.rows.at(-1)!.successRate).toBe(100);
    expect(data.rows[4].successRate).toBe(0);
  });

  it('marks latencies far from the mean, and the status change in the chart', () => {
    const data = instanceChartData(
      makeInstance({
        probes: [
          makeProbe({
            lastTransitionAt: at(5),
            status: 'passing',
            trend: {
              latencyMs: 10,
              latencyStdDevMs: 2,
              degrading: true,
              flapping: false,
              reasons: ['latency anomaly'],
            },
            recent: [
              { ok: true, latencyMs: 30, checkedAt: at(10) },
              { ok: true, latencyMs: 15, checkedAt: at(5) },
              { ok: true, latencyMs: 3, checkedAt: at(0) },
            ],
          }),
          // No results: its transition is not in the chart.
          makeProbe({ name: 'liveness', recent: [], lastTransitionAt: at(6) }),
        ],
      }),
    );
    expect(data.markers.map(m => [m.kind, m.latencyMs, m.label])).toEqual([
      ['anomaly', 3, 'readiness latency anomaly (z-score -3.5)'],
      ['anomaly', 30, 'readiness latency anomaly (z-score 10.0)'],
    ]);
    expect(data.changes).toEqual([
      {
        t: Date.parse(at(5)),
        probe: 'readiness',
        kind: 'transition',
        label: 'readiness passing',
      },
    ]);
  });
});

describe('versionChartRows', () => {
  it('lines up the versions by sample time, in the unit of the chart', () => {
    const t = (iso: string) => Date.parse(iso);
    expect(versionChartRows(versionMetrics.versions, 'requestRate')).toEqual([
      { t: t('2025-01-01T10:04:50.000Z'), [versionKey('1.0.0')]: 10 },
      {
        t: t('2025-01-01T10:04:55.000Z'),
        [versionKey('1.0.0')]: 9,
        [versionKey('1.1.0')]: 1,
      },
      {
        t: t('2025-01-01T10:05:00.000Z'),
        [versionKey('1.0.0')]: 8,
        [versionKey('1.1.0')]: 2,
      },
    ]);
    const errors = versionChartRows(versionMetrics.versions, 'errorRate');
    expect(errors.at(-1)).toEqual({
      t: t('2025-01-01T10:05:00.000Z'),
      [versionKey('1.0.0')]: 2.5,
      [versionKey('1.1.0')]: 40,
    });
  });

  it('leaves out the error rate and latency of an interval without requests', () => {
    const rows = versionChartRows(
      [
        {
          points: [
            {
              at: '2025-01-01T10:00:00.000Z',
              intervalMs: 5000,
              requests: 0,
              requestRate: 0,
              errors: 0,
              errorRate: 0,
            },
          ],
        },
      ],
      'errorRate',
    );
    expect(rows).toEqual([
      { t: Date.parse('2025-01-01T10:00:00.000Z'), [versionKey()]: undefined },
    ]);
    expect(
      versionChartRows(versionMetrics.versions, 'latencyP90Ms').map(
        r => r[versionKey('1.1.0')],
      ),
    ).toEqual([undefined, 30, 45]);
  });
});
