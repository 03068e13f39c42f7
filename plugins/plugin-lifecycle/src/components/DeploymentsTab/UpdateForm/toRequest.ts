import {
  DeploymentConfig,
  DeploymentStrategy,
  UpdateRequest,
  updateRequestSchema,
} from '@internal/plugin-lifecycle-common';
import { AnalysisDraft, FieldErrors, GateDraft, UpdateDraft } from './draft';

/** Reads the typed strings into numbers, noting what is not one. */
class Reader {
  readonly errors: FieldErrors = {};
  /** Every field read: where errors can show. */
  readonly paths = new Set<string>();

  note(path: string) {
    this.paths.add(path);
  }

  number(
    path: string,
    text: string,
    options: { required?: boolean; seconds?: boolean } = {},
  ): number | undefined {
    this.note(path);
    const trimmed = text.trim();
    if (trimmed === '') {
      if (options.required) this.errors[path] ??= 'is required';
      return undefined;
    }
    const value = Number(trimmed);
    if (!Number.isFinite(value)) {
      this.errors[path] ??= 'must be a number';
      return undefined;
    }
    return options.seconds ? Math.round(value * 1000) : value;
  }

  /** A count (`2`) or a percentage of the replicas (`25%`). */
  countOrPercent(path: string, text: string): number | string | undefined {
    this.note(path);
    const trimmed = text.trim();
    return trimmed.endsWith('%') ? trimmed : this.number(path, trimmed);
  }
}

/** Drops undefined fields, so that the schemas' defaults apply. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as T;
}

function readAnalysis(r: Reader, path: string, a: AnalysisDraft) {
  r.note(`${path}.onInsufficientData`);
  return compact({
    successThreshold: r.number(`${path}.successThreshold`, a.successThreshold),
    errorThreshold: r.number(`${path}.errorThreshold`, a.errorThreshold),
    maxLatencyP99Ms: r.number(`${path}.maxLatencyP99Ms`, a.maxLatencyP99Ms),
    minRequests: r.number(`${path}.minRequests`, a.minRequests),
    maxExtensions: r.number(`${path}.maxExtensions`, a.maxExtensions),
    onInsufficientData: a.onInsufficientData,
  });
}

const CONFIG = 'deploymentConfig';

/** The block of `deploymentConfig` each strategy reads. */
const BLOCKS: Record<DeploymentStrategy, string> = {
  canary: 'canary',
  rolling: 'rolling',
  'blue-green': 'blueGreen',
  'a-b-testing': 'abTesting',
  recreate: 'recreate',
};

function readCanary(r: Reader, c: UpdateDraft['canary']) {
  const path = `${CONFIG}.canary`;
  const common = {
    autoPromote: c.autoPromote,
    canaryReplicas: r.number(`${path}.canaryReplicas`, c.canaryReplicas),
  };
  if (c.mode === 'increments') {
    return compact({
      ...common,
      trafficIncrement: r.number(
        `${path}.trafficIncrement`,
        c.trafficIncrement,
        { required: true },
      ),
      incrementInterval: r.number(
        `${path}.incrementInterval`,
        c.incrementSeconds,
        {
          required: true,
          seconds: true,
        },
      ),
      analysis: readAnalysis(r, `${path}.analysis`, c.analysis),
    });
  }
  const steps = c.steps.map((step, i) => {
    const at = `${path}.steps.${i}`;
    switch (step.kind) {
      case 'setWeight':
        return {
          setWeight: r.number(`${at}.setWeight`, step.weight, {
            required: true,
          }),
        };
      case 'pause':
        return {
          pause: compact({
            duration: r.number(`${at}.pause.duration`, step.seconds, {
              seconds: true,
            }),
          }),
        };
      default:
        return {
          analysis: {
            ...readAnalysis(r, `${at}.analysis`, step.analysis),
            duration: r.number(`${at}.analysis.duration`, step.seconds, {
              required: true,
              seconds: true,
            }),
          },
        };
    }
  });
  r.note(`${path}.steps`);
  c.steps.forEach((_, i) => r.note(`${path}.steps.${i}`));
  return compact({ ...common, steps });
}

function readAbTesting(r: Reader, ab: UpdateDraft['abTesting']) {
  const path = `${CONFIG}.abTesting`;
  let match;
  r.note(`${path}.match`);
  if (ab.by === 'header') {
    match = { header: { name: ab.name.trim(), value: ab.value.trim() } };
  } else if (ab.by === 'cookie') {
    match = { cookie: { name: ab.name.trim(), value: ab.value.trim() } };
  }
  return compact({
    match,
    percentage:
      ab.by === 'percentage'
        ? r.number(`${path}.percentage`, ab.percentage, { required: true })
        : undefined,
    duration: r.number(`${path}.duration`, ab.durationSeconds, {
      required: true,
      seconds: true,
    }),
    winner: ab.winner,
    variantReplicas: r.number(`${path}.variantReplicas`, ab.variantReplicas),
    analysis: readAnalysis(r, `${path}.analysis`, ab.analysis),
  });
}

function readGate(r: Reader, path: string, gate: GateDraft) {
  if (!gate.enabled) return undefined;
  return compact({
    timeoutMs: r.number(`${path}.timeoutMs`, gate.timeoutSeconds, {
      seconds: true,
    }),
    onTimeout: gate.onTimeout,
  });
}

function readConfig(r: Reader, d: UpdateDraft): DeploymentConfig {
  const config: Record<string, unknown> = {};
  for (const path of ['version', 'deploymentStrategy', CONFIG]) r.note(path);
  // A refinement of a whole block (`give either steps or trafficIncrement`).
  r.note(`${CONFIG}.${BLOCKS[d.strategy]}`);
  switch (d.strategy) {
    case 'canary':
      config.canary = readCanary(r, d.canary);
      break;
    case 'rolling': {
      const path = `${CONFIG}.rolling`;
      config.rolling = compact({
        maxSurge: r.countOrPercent(`${path}.maxSurge`, d.rolling.maxSurge),
        maxUnavailable: r.countOrPercent(
          `${path}.maxUnavailable`,
          d.rolling.maxUnavailable,
        ),
        minReadySeconds: r.number(
          `${path}.minReadySeconds`,
          d.rolling.minReadySeconds,
        ),
        progressDeadlineSeconds: r.number(
          `${path}.progressDeadlineSeconds`,
          d.rolling.progressDeadlineSeconds,
        ),
      });
      break;
    }
    case 'blue-green': {
      const path = `${CONFIG}.blueGreen`;
      const bg = d.blueGreen;
      r.note(`${path}.smokeTest`);
      config.blueGreen = compact({
        smokeTest: bg.smokePath.trim()
          ? { path: bg.smokePath.trim() }
          : undefined,
        requireApproval: bg.requireApproval,
        scaleDownDelay: r.number(
          `${path}.scaleDownDelay`,
          bg.scaleDownDelaySeconds,
          {
            seconds: true,
          },
        ),
        analysis: bg.analyse
          ? {
              ...readAnalysis(r, `${path}.analysis`, bg.analysis),
              duration: r.number(
                `${path}.analysis.duration`,
                bg.analysisSeconds,
                {
                  required: true,
                  seconds: true,
                },
              ),
            }
          : undefined,
      });
      break;
    }
    case 'a-b-testing':
      config.abTesting = readAbTesting(r, d.abTesting);
      break;
    default:
      break;
  }
  const approvals = compact({
    beforeStart: readGate(
      r,
      `${CONFIG}.approvals.beforeStart`,
      d.approvals.beforeStart,
    ),
    beforePromotion: readGate(
      r,
      `${CONFIG}.approvals.beforePromotion`,
      d.approvals.beforePromotion,
    ),
  });
  if (Object.keys(approvals).length > 0) {
    config.approvals = approvals;
  }
  return config as DeploymentConfig;
}

/**
 * The request of the form, checked with the API's own schemas: either the
 * request or the problems, by field path.
 */
export function toUpdateRequest(
  draft: UpdateDraft,
):
  | { request: UpdateRequest; errors?: undefined }
  | { request?: undefined; errors: FieldErrors } {
  const reader = new Reader();
  const body = {
    version: draft.version.trim(),
    deploymentStrategy: draft.strategy,
    deploymentConfig: readConfig(reader, draft),
  };
  const errors: FieldErrors = { ...reader.errors };
  const parsed = updateRequestSchema.safeParse(body);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String).join('.');
      // The form's own reading of a field says it first ("must be a number").
      errors[path] ??= issue.message;
    }
  }
  if (Object.keys(errors).length > 0) {
    return { errors };
  }
  // The body as typed (not the parsed one): defaults stay the server's.
  return { request: body as UpdateRequest };
}

/** The paths of the fields the form shows for this draft: where errors can show. */
export function fieldPaths(draft: UpdateDraft): string[] {
  const reader = new Reader();
  readConfig(reader, draft);
  return [...reader.paths];
}
