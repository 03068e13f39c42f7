import { useMemo } from 'react';
import Typography from '@material-ui/core/Typography';
import { makeStyles, useTheme } from '@material-ui/core/styles';
import {
  CartesianGrid,
  ComposedChart,
  Legend,
  Line,
  ReferenceDot,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { InstanceHealth } from '@internal/plugin-lifecycle-common';
import { formatLatency } from '../format';
import {
  InstanceChartData,
  SampleMarker,
  TimeMarker,
  instanceChartData,
  latencyKey,
} from './chartData';
import {
  CHART_HEIGHT,
  formatClock,
  formatInstant,
  seriesColor,
  timeTicks,
} from './chartFormat';

const useStyles = makeStyles(theme => ({
  legend: {
    display: 'flex',
    flexWrap: 'wrap',
    gap: theme.spacing(2),
    marginTop: theme.spacing(1),
  },
  swatch: {
    display: 'inline-block',
    width: 10,
    height: 10,
    borderRadius: '50%',
    marginRight: theme.spacing(0.5),
    verticalAlign: 'middle',
  },
  bar: {
    display: 'inline-block',
    width: 3,
    height: 12,
    marginRight: theme.spacing(0.5),
    verticalAlign: 'middle',
  },
}));

/** Props of {@link InstanceHealthChart}. */
export interface InstanceHealthChartProps {
  instance: InstanceHealth;
}

function useMarkColors() {
  const theme = useTheme();
  return {
    failure: theme.palette.error.main,
    anomaly: theme.palette.warning.main,
    flip: theme.palette.info.main,
    transition: theme.palette.text.secondary,
  };
}

/** A mark with its meaning on hover (recharts' tooltip skips marks). */
function markShape(marker: SampleMarker, color: string) {
  return (props: { cx?: number; cy?: number }) => (
    <circle
      cx={props.cx}
      cy={props.cy}
      r={marker.kind === 'failure' ? 5 : 4}
      fill={marker.kind === 'failure' ? color : 'none'}
      stroke={color}
      strokeWidth={2}
      className={`health-marker health-marker-${marker.kind}`}
    >
      <title>{`${formatClock(marker.t)}: ${marker.label}`}</title>
    </circle>
  );
}

function lineShape(change: TimeMarker, color: string) {
  return (props: { x1?: number; y1?: number; x2?: number; y2?: number }) => (
    <line
      x1={props.x1}
      y1={props.y1}
      x2={props.x2}
      y2={props.y2}
      stroke={color}
      strokeWidth={change.kind === 'transition' ? 2 : 1}
      strokeDasharray={change.kind === 'transition' ? undefined : '4 3'}
      className={`health-marker health-marker-${change.kind}`}
    >
      <title>{`${formatClock(change.t)}: ${change.label}`}</title>
    </line>
  );
}

const plural = (n: number, one: string, many = `${one}s`) =>
  `${n} ${n === 1 ? one : many}`;

/** What the marks on the chart are, with how many of each. */
const MarkLegend = ({ data }: { data: InstanceChartData }) => {
  const classes = useStyles();
  const colors = useMarkColors();
  const failures = data.markers.filter(m => m.kind === 'failure').length;
  const anomalies = data.markers.filter(m => m.kind === 'anomaly').length;
  const flips = data.changes.filter(c => c.kind === 'flip').length;
  const transitions = data.changes.filter(c => c.kind === 'transition');
  return (
    <div className={classes.legend} data-testid="chart-markers">
      <Typography variant="caption">
        <span
          className={classes.swatch}
          style={{ background: colors.failure }}
        />
        {plural(failures, 'failed check')}
      </Typography>
      <Typography variant="caption">
        <span
          className={classes.swatch}
          style={{ border: `2px solid ${colors.anomaly}` }}
        />
        {plural(anomalies, 'latency anomaly', 'latency anomalies')}
      </Typography>
      <Typography variant="caption">
        <span className={classes.bar} style={{ background: colors.flip }} />
        {plural(flips, 'pass/fail flip')}
      </Typography>
      {transitions.map(t => (
        <Typography variant="caption" key={`${t.probe}-${t.t}`}>
          <span
            className={classes.bar}
            style={{ background: colors.transition }}
          />
          {t.label} since {formatClock(t.t)}
        </Typography>
      ))}
    </div>
  );
};

/**
 * An instance's checks over time, from its probes' recent results: the
 * latency of each probe (left axis), the rolling success rate (right
 * axis), failed checks and latency anomalies as dots, and a line where a
 * probe's results flipped between passing and failing or its status
 * changed. Hover a mark for what it is.
 */
export const InstanceHealthChart = ({ instance }: InstanceHealthChartProps) => {
  const theme = useTheme();
  const colors = useMarkColors();
  const data = useMemo(() => instanceChartData(instance), [instance]);
  const ticks = useMemo(
    () => timeTicks(data.rows[0]?.t ?? NaN, data.rows.at(-1)?.t ?? NaN),
    [data],
  );

  if (data.rows.length < 2) {
    return (
      <Typography variant="body2" color="textSecondary">
        The chart shows once the probes have run a few times.
      </Typography>
    );
  }
  return (
    <div data-testid="instance-health-chart">
      <ResponsiveContainer
        width="100%"
        height={CHART_HEIGHT}
        initialDimension={{ width: 800, height: CHART_HEIGHT }}
      >
        <ComposedChart
          data={data.rows}
          margin={{ top: 8, right: 8, bottom: 0, left: 8 }}
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
            yAxisId="latency"
            tickFormatter={(ms: number) => formatLatency(ms)}
            width={64}
          />
          <YAxis
            yAxisId="success"
            orientation="right"
            domain={[0, 100]}
            unit="%"
            width={48}
          />
          <Tooltip
            labelFormatter={(t: number) => formatInstant(t)}
            formatter={(value: number, name: string) => [
              name === 'success rate'
                ? `${Math.round(value)}%`
                : formatLatency(value),
              name,
            ]}
          />
          <Legend />
          {data.probes.map((probe, i) => (
            <Line
              key={probe}
              yAxisId="latency"
              dataKey={latencyKey(probe)}
              name={`${probe} latency`}
              stroke={seriesColor(theme, i)}
              // A startup probe stops once it passed: its one or two
              // results are dots, not a line.
              dot={data.okCounts[probe] > 2 ? false : { r: 3 }}
              connectNulls
              isAnimationActive={false}
            />
          ))}
          <Line
            yAxisId="success"
            dataKey="successRate"
            name="success rate"
            type="stepAfter"
            stroke={theme.palette.success.main}
            strokeDasharray="5 3"
            dot={false}
            isAnimationActive={false}
          />
          {data.changes.map(change => (
            <ReferenceLine
              key={`${change.kind}-${change.probe}-${change.t}`}
              yAxisId="latency"
              x={change.t}
              shape={lineShape(change, colors[change.kind])}
            />
          ))}
          {data.markers.map(marker => (
            <ReferenceDot
              key={`${marker.kind}-${marker.probe}-${marker.t}`}
              yAxisId="latency"
              x={marker.t}
              y={marker.latencyMs}
              ifOverflow="extendDomain"
              shape={markShape(marker, colors[marker.kind])}
            />
          ))}
        </ComposedChart>
      </ResponsiveContainer>
      <MarkLegend data={data} />
    </div>
  );
};
