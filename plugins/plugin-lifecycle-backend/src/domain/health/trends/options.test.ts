import { InputError } from '@backstage/errors';
import { DEFAULT_TREND_OPTIONS, trendOptions } from './options';

describe('trendOptions', () => {
  it('fills in the defaults and takes overrides', () => {
    expect(trendOptions()).toEqual(DEFAULT_TREND_OPTIONS);
    expect(trendOptions({ zThreshold: 4, alpha: undefined })).toEqual({
      ...DEFAULT_TREND_OPTIONS,
      zThreshold: 4,
    });
  });

  it.each([
    [{ alpha: 0 }, 'trend option alpha must be in (0, 1], got 0'],
    [
      { successWindow: 33 },
      'trend option successWindow must be a whole number from 1 to 32, got 33',
    ],
    [
      { anomalySamples: 1.5 },
      'trend option anomalySamples must be a whole number from 1, got 1.5',
    ],
    [
      { degradedSuccessRate: 2 },
      'trend option degradedSuccessRate must be between 0 and 1, got 2',
    ],
    [
      { flapWindowMs: -1 },
      'trend option flapWindowMs must be positive, got -1',
    ],
  ])('refuses %j', (overrides, message) => {
    expect(() => trendOptions(overrides)).toThrow(new InputError(message));
  });
});
