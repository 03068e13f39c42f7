import Box from '@material-ui/core/Box';
import Typography from '@material-ui/core/Typography';
import { useTheme } from '@material-ui/core/styles';
import { DateTime } from 'luxon';
import {
  Area,
  AreaChart,
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { Deployment } from '@internal/plugin-lifecycle-common';
import { currentSplit, trafficTimeline } from './traffic';

function useVersionColors() {
  const theme = useTheme();
  return {
    old: theme.palette.grey[500],
    new: theme.palette.primary.main,
    other: theme.palette.secondary.main,
  };
}

const percentTick = (v: number) => `${v}%`;

/**
 * The traffic split now: one stacked bar, a segment per version (the old
 * version first). Nothing to draw while no split is in place.
 */
export const CurrentSplitChart = ({
  deployment,
}: {
  deployment: Deployment;
}) => {
  const colors = useVersionColors();
  const split = currentSplit(deployment);
  const colorOf = (version: string) => {
    if (version === deployment.toVersion) return colors.new;
    return version === deployment.fromVersion ? colors.old : colors.other;
  };
  const summary = split.length
    ? split.map(s => `${s.version}: ${s.weight}%`).join(', ')
    : 'no traffic split in place';
  const row = Object.fromEntries(split.map((s, i) => [`v${i}`, s.weight]));
  return (
    <Box
      data-testid="traffic-split"
      aria-label={`Traffic now: ${summary}`}
      role="figure"
    >
      <Typography variant="subtitle2">Traffic now</Typography>
      <Typography variant="body2" color="textSecondary">
        {summary}
      </Typography>
      {split.length > 0 && (
        <ResponsiveContainer width="100%" height={90}>
          <BarChart
            data={[row]}
            layout="vertical"
            margin={{ left: 0, right: 16 }}
          >
            <XAxis
              type="number"
              domain={[0, 100]}
              tickFormatter={percentTick}
            />
            <YAxis type="category" hide />
            <Tooltip formatter={(v: number) => `${v}%`} />
            <Legend />
            {split.map((s, i) => (
              <Bar
                key={s.version}
                dataKey={`v${i}`}
                name={s.version}
                stackId="split"
                fill={colorOf(s.version)}
                isAnimationActive={false}
              />
            ))}
          </BarChart>
        </ResponsiveContainer>
      )}
    </Box>
  );
};

const timeTick = (t: number) => DateTime.fromMillis(t).toFormat('HH:mm:ss');

/**
 * The split over the rollout as stacked steps: the share of each version
 * from the deployment's start to now (or its end), from the steps' times.
 */
export const TrafficOverTimeChart = ({
  deployment,
  now,
}: {
  deployment: Deployment;
  now?: number;
}) => {
  const colors = useVersionColors();
  const points = trafficTimeline(deployment, now);
  const last = points[points.length - 1];
  return (
    <Box
      data-testid="traffic-over-time"
      role="figure"
      aria-label={`Traffic over the rollout: ${deployment.toVersion} from 0% to ${last.new}%`}
    >
      <Typography variant="subtitle2">Traffic over the rollout</Typography>
      <ResponsiveContainer width="100%" height={200}>
        <AreaChart data={points} margin={{ left: 0, right: 16, top: 8 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis
            dataKey="t"
            type="number"
            scale="time"
            domain={['dataMin', 'dataMax']}
            tickFormatter={timeTick}
            minTickGap={24}
          />
          <YAxis domain={[0, 100]} tickFormatter={percentTick} width={44} />
          <Tooltip
            labelFormatter={(t: number) => timeTick(t)}
            formatter={(v: number) => `${v}%`}
          />
          <Legend />
          <Area
            type="stepAfter"
            dataKey="old"
            name={deployment.fromVersion}
            stackId="split"
            stroke={colors.old}
            fill={colors.old}
            isAnimationActive={false}
          />
          <Area
            type="stepAfter"
            dataKey="new"
            name={deployment.toVersion}
            stackId="split"
            stroke={colors.new}
            fill={colors.new}
            isAnimationActive={false}
          />
        </AreaChart>
      </ResponsiveContainer>
    </Box>
  );
};
