import { analysingCanary, pausedCanary } from './__fixtures__/deployments';
import {
  describeStep,
  formatDuration,
  formatLatency,
  stepProgress,
} from './format';

describe('format', () => {
  it('writes durations for people', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12_400)).toBe('12 s');
    expect(formatDuration(200_000)).toBe('3 m 20 s');
    expect(formatDuration(3_600_000)).toBe('1 h');
    expect(formatDuration(7_500_000)).toBe('2 h 5 m');
  });

  it('rounds latencies to what is worth reading', () => {
    expect(formatLatency(21.795941999997012)).toBe('22 ms');
    expect(formatLatency(0.8123)).toBe('0.8 ms');
    expect(formatLatency(undefined)).toBe('-');
  });

  it('describes steps', () => {
    expect(pausedCanary.steps.map(describeStep)).toEqual([
      'Scale new version to 1',
      'Set weight 20 %',
      'Analysis 10 s',
      'Pause until promoted',
      'Set weight 100 %',
      'Finish',
    ]);
  });

  it('counts steps done', () => {
    expect(stepProgress(analysingCanary)).toEqual({ done: 2, total: 6 });
  });
});
