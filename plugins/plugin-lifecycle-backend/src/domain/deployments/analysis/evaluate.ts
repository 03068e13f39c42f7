import {
  AnalysisCriteria,
  AnalysisVerdict,
  VersionEvidence,
} from '@internal/plugin-lifecycle-common';

/**
 * The A/B winner rule: the candidate (B) wins when its error rate is not
 * worse than the baseline's (A) by more than this many percentage points…
 *
 * @public
 */
export const AB_ERROR_RATE_MARGIN_POINTS = 1;

/** …and its p99 is not more than this share (20%) above the baseline's… @public */
export const AB_P99_MARGIN = 0.2;

/**
 * …or not more than this many ms above it: a few ms between two p99s of a
 * short window are noise, not a slower version (bench/rollout saw 8 ms
 * against 5 ms decide an A/B test). @public
 */
export const AB_P99_MIN_DIFFERENCE_MS = 25;

/**
 * Latency is compared only when both sides served at least this many
 * requests: the p99 of fewer than 100 is their slowest one, which a single
 * scheduling hiccup decides. @public
 */
export const AB_P99_MIN_REQUESTS = 100;

/** @public */
export interface EvaluateAnalysisInput {
  criteria: AnalysisCriteria;
  /** The new version. */
  candidate: VersionEvidence;
  /** The old version (A/B: variant A). */
  baseline?: VersionEvidence;
  /** A/B: compare candidate with baseline and name a winner. */
  compare?: boolean;
  /** Times this window was already extended for too little traffic. */
  extensions: number;
  /** Verdicts of the extra analysis providers for this window. */
  providers?: Array<{
    name: string;
    verdict: AnalysisVerdict;
    message?: string;
  }>;
}

/** @public */
export interface AnalysisOutcome {
  verdict: 'pass' | 'fail' | 'insufficient-data';
  /** One line per finding: what was measured, against which threshold, over how many requests. */
  reasons: string[];
  /** Compare mode, once there is a verdict: who won. */
  winner?: 'candidate' | 'baseline';
}

const pct = (value: number) => `${Number(value.toFixed(2))}%`;

/**
 * The verdict of one analysis window. `fail` wins over `insufficient-data`,
 * which wins over `pass`:
 * - fail: an unhealthy instance of the candidate (with `requireHealthy`), a
 *   broken threshold, or a provider that failed;
 * - insufficient-data: fewer than `minRequests` requests of the candidate
 *   (or, comparing, of the baseline), or a provider without data. Too
 *   little traffic is never a pass, not even with zero errors (Flagger
 *   #1035, Kayenta's 50 data points). With too few requests a threshold
 *   counts as broken only when it would stay broken had the missing
 *   requests all succeeded (an early fail, not a guess);
 * - pass otherwise.
 *
 * Comparing (A/B), the candidate wins unless its error rate is more than
 * {@link AB_ERROR_RATE_MARGIN_POINTS} points above the baseline's or its p99
 * more than {@link AB_P99_MARGIN} and more than
 * {@link AB_P99_MIN_DIFFERENCE_MS} above it (judged with at least
 * {@link AB_P99_MIN_REQUESTS} requests on each side); a failing candidate
 * loses.
 *
 * @public
 */
export function evaluateAnalysis(
  input: EvaluateAnalysisInput,
): AnalysisOutcome {
  const { criteria, candidate, baseline, compare, extensions } = input;
  const failures: string[] = [];
  const missing: string[] = [];
  const notes: string[] = [];
  const n = candidate.requests;
  const v = candidate.version;
  const enough = n >= criteria.minRequests;
  const over = `over ${n} requests`;
  const assumed = enough
    ? ''
    : ` (counting the ${criteria.minRequests - n} missing as successes)`;

  if (criteria.requireHealthy && candidate.unhealthyInstances > 0) {
    failures.push(
      `${candidate.unhealthyInstances} instance(s) of ${v} unhealthy (requireHealthy)`,
    );
  }
  if (!enough) {
    missing.push(
      `${v} served ${n} of the ${criteria.minRequests} requests needed for a verdict ` +
        `(window extended ${extensions} of ${criteria.maxExtensions} times)`,
    );
  }

  // With fewer requests than needed, judge as if the rest had succeeded.
  const judgedOver = Math.max(n, criteria.minRequests);
  const errors = ((candidate.errorRate ?? 0) * n) / 100;
  const failed = ((100 - (candidate.successRate ?? 100)) * n) / 100;
  if (
    criteria.errorThreshold !== undefined &&
    candidate.errorRate !== undefined
  ) {
    const worstCase = (100 * errors) / judgedOver;
    if (worstCase > criteria.errorThreshold) {
      failures.push(
        `error rate of ${v} ${pct(
          enough ? candidate.errorRate : worstCase,
        )} above the threshold ${pct(
          criteria.errorThreshold,
        )} ${over}${assumed}`,
      );
    } else if (enough) {
      notes.push(
        `error rate of ${v} ${pct(candidate.errorRate)} within ${pct(
          criteria.errorThreshold,
        )} ${over}`,
      );
    }
  }
  if (
    criteria.successThreshold !== undefined &&
    candidate.successRate !== undefined
  ) {
    const bestCase = 100 - (100 * failed) / judgedOver;
    if (bestCase < criteria.successThreshold) {
      failures.push(
        `success rate of ${v} ${pct(
          enough ? candidate.successRate : bestCase,
        )} below the threshold ${pct(
          criteria.successThreshold,
        )} ${over}${assumed}`,
      );
    } else if (enough) {
      notes.push(
        `success rate of ${v} ${pct(candidate.successRate)} within ${pct(
          criteria.successThreshold,
        )} ${over}`,
      );
    }
  }
  if (
    enough &&
    criteria.maxLatencyP99Ms !== undefined &&
    candidate.p99Ms !== undefined
  ) {
    (candidate.p99Ms > criteria.maxLatencyP99Ms ? failures : notes).push(
      `latency p99 of ${v} ${Math.round(candidate.p99Ms)} ms ` +
        `${candidate.p99Ms > criteria.maxLatencyP99Ms ? 'above' : 'within'} ` +
        `the threshold ${criteria.maxLatencyP99Ms} ms ${over}`,
    );
  }

  for (const p of input.providers ?? []) {
    const line = `provider ${p.name}: ${p.verdict}${
      p.message ? ` (${p.message})` : ''
    }`;
    if (p.verdict === 'fail') failures.push(line);
    else if (p.verdict === 'insufficient-data' || p.verdict === 'running')
      missing.push(line);
    else notes.push(line);
  }

  if (compare) {
    if (!baseline) {
      missing.push('no measurements of the baseline to compare with');
    } else if (baseline.requests < criteria.minRequests) {
      missing.push(
        `${baseline.version} served ${baseline.requests} of the ${criteria.minRequests} requests needed to compare`,
      );
    }
  }

  if (failures.length > 0) {
    return {
      verdict: 'fail',
      reasons: failures,
      ...(compare ? { winner: 'baseline' as const } : {}),
    };
  }
  if (missing.length > 0) {
    return { verdict: 'insufficient-data', reasons: missing };
  }
  if (!compare) return { verdict: 'pass', reasons: notes };
  const { winner, reason } = pickWinner(candidate, baseline!);
  return { verdict: 'pass', reasons: [...notes, reason], winner };
}

function pickWinner(
  candidate: VersionEvidence,
  baseline: VersionEvidence,
): { winner: 'candidate' | 'baseline'; reason: string } {
  const c = candidate.errorRate ?? 0;
  const b = baseline.errorRate ?? 0;
  if (c > b + AB_ERROR_RATE_MARGIN_POINTS) {
    return {
      winner: 'baseline',
      reason: `${baseline.version} wins: error rate of ${
        candidate.version
      } ${pct(
        c,
      )} is more than ${AB_ERROR_RATE_MARGIN_POINTS} point(s) above ${pct(b)}`,
    };
  }
  if (
    candidate.p99Ms !== undefined &&
    baseline.p99Ms !== undefined &&
    candidate.requests >= AB_P99_MIN_REQUESTS &&
    baseline.requests >= AB_P99_MIN_REQUESTS &&
    candidate.p99Ms > baseline.p99Ms * (1 + AB_P99_MARGIN) &&
    candidate.p99Ms - baseline.p99Ms > AB_P99_MIN_DIFFERENCE_MS
  ) {
    return {
      winner: 'baseline',
      reason: `${baseline.version} wins: latency p99 of ${
        candidate.version
      } ${Math.round(candidate.p99Ms)} ms is more than ${
        AB_P99_MARGIN * 100
      }% and ${AB_P99_MIN_DIFFERENCE_MS} ms above ${Math.round(
        baseline.p99Ms,
      )} ms`,
    };
  }
  const latency =
    candidate.p99Ms !== undefined && baseline.p99Ms !== undefined
      ? `, p99 ${Math.round(candidate.p99Ms)} ms against ${Math.round(
          baseline.p99Ms,
        )} ms`
      : '';
  return {
    winner: 'candidate',
    reason: `${candidate.version} wins: error rate ${pct(c)} against ${pct(
      b,
    )}${latency}`,
  };
}

/**
 * What to do after a window with too little traffic: extend it by its
 * duration while `extensions` (already made) is below `maxExtensions`,
 * then what `onInsufficientData` says.
 *
 * @public
 */
export function nextAfterInsufficient(
  criteria: Pick<AnalysisCriteria, 'maxExtensions' | 'onInsufficientData'>,
  extensions: number,
): 'extend' | 'fail' | 'wait-for-approval' {
  return extensions < criteria.maxExtensions
    ? 'extend'
    : criteria.onInsufficientData;
}
