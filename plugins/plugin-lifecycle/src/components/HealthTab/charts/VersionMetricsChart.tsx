import { useMemo } from 'react';
import Grid from '@material-ui/core/Grid';
import Typography from '@material-ui/core/Typography';
import { useTheme } from '@material-ui/core/styles';
import {
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { VersionMetricsSeries } from '@internal/plugin-lifecycle-common';
import { formatLatency } from '../format';
import { VersionMetric, versionChartRows, versionKey } from './chartData';
import {
  CHART_HEIGHT,
  formatClock,
  formatInstant,
  seriesColor,
  timeTicks,
} from './chartFormat';

const METRICS: Array<{
  metric: VersionMetric;
  title: string;
  format: (value: number) => string;
}> = [
  {
    metric: 'requestRate',
    title: 'Requests per second',
    format: v => `${Number(v.toFixed(2))}/s`,
  },
  {
    metric: 'errorRate',
    title: 'Error rate (5xx and failed)',
    format: v => `${Number(v.toFixed(1))}%`,
  },
  {
    metric: 'latencyP90Ms',
    title: 'Latency (p90)',
    format: v => formatLatency(v),
  },
];

/** Props of {@link VersionMetricsChart}. */
export interface VersionMetricsChartProps {
  versions: VersionMetricsSeries[];
}

const OneMetric = (props: {
  versions: VersionMetricsSeries[];
  metric: VersionMetric;
  title: string;
  format: (value: number) => string;
}) => {
  const { versions, metric, title, format } = props;
  const theme = useTheme();
  const rows = useMemo(
    () => versionChartRows(versions, metric),
    [versions, metric],
  );
  const ticks = useMemo(
    () => timeTicks(rows[0]?.t ?? NaN, rows.at(-1)?.t ?? NaN),
    [rows],
  );
  return (
    <div data-testid={`version-chart-${metric}`}>
      <Typography variant="subtitle2" component="h3">
        {title}
      </Typography>
      <ResponsiveContainer
        width="100%"
        height={CHART_HEIGHT}
        initialDimension={{ width: 400, height: CHART_HEIGHT }}
      >
        <LineChart
          data={rows}
          margin={{ top: 8, right: 8, bottom: 0, left: 0 }}
        >
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis
            dataKey="t"
            type="number"
            domain={['dataMin', 'dataMax']}
            ticks={ticks}
            tickFormatter={formatClock}
            minTickGap={24}
          />
          <YAxis
            tickFormatter={format}
            width={64}
            domain={metric === 'errorRate' ? [0, 100] : [0, 'auto']}
          />
          <Tooltip
            labelFormatter={(t: number) => formatInstant(t)}
            formatter={(value: number, name: string) => [format(value), name]}
          />
          <Legend />
          {versions.map((series, i) => (
            <Line
              key={versionKey(series.version)}
              dataKey={versionKey(series.version)}
              name={series.version ?? '(no version)'}
              stroke={seriesColor(theme, i)}
              dot={false}
              isAnimationActive={false}
            />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
};

/**
 * Request rate, error rate and p90 latency of each version of a plugin
 * over the last minutes, as the backend sampled what its proxy served:
 * one chart per measure, a line per version.
 */
export const VersionMetricsChart = ({ versions }: VersionMetricsChartProps) => (
  <Grid container spacing={2}>
    {METRICS.map(m => (
      <Grid item xs={12} lg={4} key={m.metric}>
        <OneMetric versions={versions} {...m} />
      </Grid>
    ))}
  </Grid>
);
