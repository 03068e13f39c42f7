import { DateTime } from 'luxon';
import { Theme } from '@material-ui/core/styles';

/** A chart's time tick: "14:05:30" in the browser's zone. */
export function formatClock(ms: number): string {
  return DateTime.fromMillis(ms).toLocaleString(DateTime.TIME_WITH_SECONDS);
}

/** A tooltip's time: the date as well. */
export function formatInstant(ms: number): string {
  return DateTime.fromMillis(ms).toLocaleString(
    DateTime.DATETIME_MED_WITH_SECONDS,
  );
}

/**
 * Colours for the series of a chart (probes, versions), told apart in
 * both themes; the error and warning colours are kept for the marks.
 */
export function seriesColors(theme: Theme): string[] {
  return [
    theme.palette.primary.main,
    theme.palette.secondary.main,
    '#00897b',
    '#6d4c41',
    '#8e24aa',
    '#546e7a',
  ];
}

/** The colour of series `i`, cycling through {@link seriesColors}. */
export function seriesColor(theme: Theme, i: number): string {
  const colors = seriesColors(theme);
  return colors[i % colors.length];
}

const SECOND = 1000;
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].map(
  s => s * SECOND,
);

/**
 * Ticks of a time axis from `min` to `max` (ms): whole multiples of the
 * smallest round step (1 s, 5 s, 1 min, ...) that gives at most `count`,
 * each once.
 */
export function timeTicks(min: number, max: number, count = 6): number[] {
  if (!(max > min)) return Number.isFinite(min) ? [min] : [];
  const step =
    STEPS.find(s => (max - min) / s <= count) ??
    Math.ceil((max - min) / count / STEPS[STEPS.length - 1]) *
      STEPS[STEPS.length - 1];
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max; t += step) {
    ticks.push(t);
  }
  return ticks;
}

/** Height of every chart of the tab, px: readable at 800 px wide. */
export const CHART_HEIGHT = 240;
