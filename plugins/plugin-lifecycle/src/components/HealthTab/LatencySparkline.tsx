import { useTheme } from '@material-ui/core/styles';
import { ProbeResultSample } from '@internal/plugin-lifecycle-common';
import { formatLatency, sparklinePoints } from './format';

const WIDTH = 80;
const HEIGHT = 20;

/** Props of {@link LatencySparkline}. */
export interface LatencySparklineProps {
  /** Sampled results, newest first (as the API lists them). */
  recent: ProbeResultSample[];
}

/**
 * The latencies of a probe's recent successful runs as a small line, oldest
 * on the left; nothing while there are fewer than two.
 */
export const LatencySparkline = ({ recent }: LatencySparklineProps) => {
  const theme = useTheme();
  const points = sparklinePoints(recent, WIDTH, HEIGHT);
  if (!points) {
    return null;
  }
  const latencies = recent.filter(r => r.ok).map(r => r.latencyMs);
  const label = `latency from ${formatLatency(
    Math.min(...latencies),
  )} to ${formatLatency(Math.max(...latencies))}`;
  return (
    <svg
      width={WIDTH}
      height={HEIGHT + 2}
      viewBox={`0 -1 ${WIDTH} ${HEIGHT + 2}`}
      role="img"
      aria-label={label}
      data-testid="latency-sparkline"
    >
      <title>{label}</title>
      <polyline
        points={points}
        fill="none"
        stroke={theme.palette.primary.main}
        strokeWidth={1.5}
        strokeLinejoin="round"
      />
    </svg>
  );
};
