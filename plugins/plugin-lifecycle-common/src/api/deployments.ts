import { z } from 'zod';

/**
 * How a plugin moves to another version. The values are the wire strings
 * (`deploymentStrategy` of `POST /plugins/{id}/update`); the request also
 * accepts the key names (`BLUE_GREEN`).
 *
 * @public
 */
export const DeploymentStrategy = {
  /** A full new set beside the old one, then one atomic switch of all traffic. */
  BLUE_GREEN: 'blue-green',
  /** A few new instances get a growing share of the traffic, analysed at each step. */
  CANARY: 'canary',
  /** Instances replaced a few at a time (`maxSurge`, `maxUnavailable`): the default. */
  ROLLING: 'rolling',
  /** Two versions side by side, routed by header, cookie or percentage, then a winner. */
  A_B_TESTING: 'a-b-testing',
  /** Every old instance stopped, then the new set started (downtime: for development). */
  RECREATE: 'recreate',
} as const;

/** @public */
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the type of the values of the const of the same name
export type DeploymentStrategy =
  (typeof DeploymentStrategy)[keyof typeof DeploymentStrategy];

/** The wire values of {@link DeploymentStrategy}. @public */
export const DEPLOYMENT_STRATEGIES = Object.values(
  DeploymentStrategy,
) as readonly DeploymentStrategy[];

const strategyByKey = new Map<string, DeploymentStrategy>(
  Object.entries(DeploymentStrategy),
);

/** A strategy by its wire value or its key name (`CANARY`). @public */
export const deploymentStrategySchema = z.preprocess(
  v => (typeof v === 'string' ? strategyByKey.get(v) ?? v : v),
  z.enum(
    DEPLOYMENT_STRATEGIES as [DeploymentStrategy, ...DeploymentStrategy[]],
    {
      error: `must be one of ${DEPLOYMENT_STRATEGIES.join(', ')}`,
    },
  ),
);

const MAX_DURATION_MS = 7 * 24 * 3600_000;
const durationMs = z.number().int().min(0).max(MAX_DURATION_MS);
const percent = z.number().min(0).max(100);

/**
 * What an analysis checks, from our own proxy measurements of each version
 * (both data planes) and the health verdicts of its instances. Too little
 * traffic (`minRequests`) is never a pass: the step is extended by its
 * duration up to `maxExtensions` times, then `onInsufficientData` decides.
 *
 * @public
 */
export const analysisCriteriaSchema = z
  .object({
    /** Least share of requests answered below 500, in percent (design: 99). */
    successThreshold: percent.optional(),
    /** Most share of requests answered 5xx or not at all, in percent (design: 1). */
    errorThreshold: percent.optional(),
    /** Highest latency p99 of the new version, in ms. */
    maxLatencyP99Ms: z.number().int().min(1).max(600_000).optional(),
    /** Requests the new version must have served in the window for a verdict. */
    minRequests: z.number().int().min(1).max(1_000_000_000).default(50),
    /** How often a window with too few requests is extended. */
    maxExtensions: z.number().int().min(0).max(1000).default(3),
    /** After the last extension: fail (and roll back) or wait for a person. */
    onInsufficientData: z.enum(['fail', 'wait-for-approval']).default('fail'),
    /** Fail when an instance of the new version is judged unhealthy. */
    requireHealthy: z.boolean().default(true),
    /** Further analysis providers (registered through the -node extension point), by name. */
    providers: z
      .array(
        z
          .object({
            name: z.string().min(1).max(100),
            params: z.record(z.string(), z.unknown()).optional(),
          })
          .strict(),
      )
      .max(20)
      .optional(),
  })
  .strict();

/** @public */
export type AnalysisCriteria = z.infer<typeof analysisCriteriaSchema>;

/** A gate that waits for a person with the `deployment.approve` permission. @public */
export const approvalGateSchema = z
  .object({
    /** How long to wait; absent: wait until someone decides. */
    timeoutMs: z.number().int().min(1).max(MAX_DURATION_MS).optional(),
    /** What a timeout decides; `wait` keeps waiting (no forced timeout). */
    onTimeout: z.enum(['approve', 'reject', 'wait']).default('wait'),
  })
  .strict();

/** @public */
export type ApprovalGate = z.infer<typeof approvalGateSchema>;

/** One explicit canary step (Argo Rollouts' shape). @public */
export const canaryStepSchema = z.union([
  z.object({ setWeight: z.number().int().min(0).max(100) }).strict(),
  z
    .object({
      /** `{}` pauses until promoted; `{duration}` for that long. */
      pause: z.object({ duration: durationMs.optional() }).strict(),
    })
    .strict(),
  z
    .object({
      analysis: analysisCriteriaSchema.extend({
        /** The window, in ms. */
        duration: z.number().int().min(100).max(MAX_DURATION_MS),
      }),
    })
    .strict(),
]);

/** @public */
export type CanaryStep = z.infer<typeof canaryStepSchema>;

/** @public */
export const canaryConfigSchema = z
  .object({
    /** Share of traffic added at each step, in percent. */
    trafficIncrement: z.number().int().min(1).max(100).optional(),
    /** Time between increments (each one an analysis window), in ms. */
    incrementInterval: z
      .number()
      .int()
      .min(100)
      .max(MAX_DURATION_MS)
      .optional(),
    /** Least success rate of the canary, in percent. */
    successThreshold: percent.optional(),
    /** Most error rate of the canary, in percent. */
    errorThreshold: percent.optional(),
    /** Go to 100% after the last step by itself; otherwise wait for promote. */
    autoPromote: z.boolean().default(true),
    /** Explicit steps instead of `trafficIncrement`; must reach weight 100. */
    steps: z.array(canaryStepSchema).min(1).max(100).optional(),
    /** Analysis settings for the increments' windows. */
    analysis: analysisCriteriaSchema.partial().optional(),
    /** Instances of the new version during the canary (default 1, at most the plugin's replicas). */
    canaryReplicas: z.number().int().min(1).max(100).optional(),
  })
  .strict()
  .refine(c => !(c.steps && c.trafficIncrement !== undefined), {
    message: 'give either steps or trafficIncrement, not both',
  })
  .refine(
    c => !c.steps || c.steps.some(s => 'setWeight' in s && s.setWeight === 100),
    { message: 'the step list never reaches weight 100', path: ['steps'] },
  );

/** @public */
export type CanaryConfig = z.infer<typeof canaryConfigSchema>;

/** A count of instances or a percentage of the replicas (`'25%'`). */
const countOrPercent = z.union([
  z.number().int().min(0).max(1000),
  z
    .string()
    .regex(/^\d{1,3}%$/, 'must be a whole number or a percentage such as 25%'),
]);

/** @public */
export const rollingConfigSchema = z
  .object({
    maxSurge: countOrPercent.default(1),
    maxUnavailable: countOrPercent.default(0),
    minReadySeconds: z.number().int().min(0).max(3600).default(0),
    progressDeadlineSeconds: z.number().int().min(1).max(86_400).default(600),
  })
  .strict();

/** @public */
export type RollingConfig = z.infer<typeof rollingConfigSchema>;

/** A request sent to the new set before traffic moves to it. @public */
export const smokeTestSchema = z
  .object({
    path: z.string().startsWith('/').max(2000).default('/'),
    method: z.enum(['GET', 'HEAD', 'POST']).default('GET'),
    /** Statuses that pass; default 200-399. */
    expectStatus: z
      .array(z.number().int().min(100).max(599))
      .max(50)
      .optional(),
    timeoutMs: z.number().int().min(1).max(600_000).default(5000),
  })
  .strict();

/** @public */
export const blueGreenConfigSchema = z
  .object({
    smokeTest: smokeTestSchema.optional(),
    /** Wait for a person between the smoke test and the switch. */
    requireApproval: z.boolean().default(false),
    /** How long the old set stays warm after the switch (instant rollback), in ms. */
    scaleDownDelay: durationMs.default(30_000),
    /** Analysis of the new set while the old one is still warm. */
    analysis: analysisCriteriaSchema
      .extend({ duration: z.number().int().min(100).max(MAX_DURATION_MS) })
      .optional(),
  })
  .strict();

/** @public */
export type BlueGreenConfig = z.infer<typeof blueGreenConfigSchema>;

/** Requests that go to variant B: a header or a cookie with a value. @public */
export const abMatchSchema = z.union([
  z
    .object({
      header: z
        .object({
          name: z
            .string()
            .regex(/^[A-Za-z0-9-]{1,100}$/, 'must be an HTTP header name'),
          value: z
            .string()
            .regex(
              /^[\x21-\x7e]{1,200}$/,
              'must be printable ASCII without spaces',
            ),
        })
        .strict(),
    })
    .strict(),
  z
    .object({
      cookie: z
        .object({
          name: z
            .string()
            .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be a cookie name'),
          value: z
            .string()
            .regex(/^[A-Za-z0-9_.~-]{1,200}$/, 'must be a plain cookie value'),
        })
        .strict(),
    })
    .strict(),
]);

/** @public */
export type AbMatch = z.infer<typeof abMatchSchema>;

/** @public */
export const abTestingConfigSchema = z
  .object({
    /** Requests matching this go to B (the new version); everything else to A. */
    match: abMatchSchema.optional(),
    /** Or: this share of requests goes to B, in percent. */
    percentage: z.number().int().min(1).max(99).optional(),
    /** How long the experiment runs, in ms. */
    duration: z.number().int().min(100).max(MAX_DURATION_MS),
    /** Who declares the winner: the analysis (comparing A and B) or a person (promote / rollback). */
    winner: z.enum(['analysis', 'manual']).default('analysis'),
    analysis: analysisCriteriaSchema.partial().optional(),
    /** Instances of B (default 1). */
    variantReplicas: z.number().int().min(1).max(100).optional(),
  })
  .strict()
  .refine(c => (c.match === undefined) !== (c.percentage === undefined), {
    message: 'give either match (header or cookie) or percentage',
  });

/** @public */
export type AbTestingConfig = z.infer<typeof abTestingConfigSchema>;

/**
 * Settings of a deployment: one block per strategy (only the chosen one is
 * read), approval gates and cleanup.
 *
 * @public
 */
export const deploymentConfigSchema = z
  .object({
    canary: canaryConfigSchema.optional(),
    rolling: rollingConfigSchema.optional(),
    blueGreen: blueGreenConfigSchema.optional(),
    abTesting: abTestingConfigSchema.optional(),
    recreate: z.object({}).strict().optional(),
    approvals: z
      .object({
        beforeStart: approvalGateSchema.optional(),
        beforePromotion: approvalGateSchema.optional(),
      })
      .strict()
      .optional(),
    /** Versions whose files are kept after completion, for rollback (the running one included). */
    keepVersions: z.number().int().min(1).max(100).optional(),
  })
  .strict();

/** @public */
export type DeploymentConfig = z.infer<typeof deploymentConfigSchema>;

/**
 * Where a deployment is. `pending`: accepted, its queued `update`
 * operation (which checks preconditions and installs the version) has not
 * run yet. Terminal: `succeeded`, `rolled-back` (analysis,
 * health or a person sent traffic back), `aborted` (a person stopped it),
 * `failed` (even the rollback could not finish: a person must look).
 *
 * @public
 */
export const DEPLOYMENT_PHASES = [
  'pending',
  'progressing',
  'paused',
  'awaiting-approval',
  'rolling-back',
  'succeeded',
  'rolled-back',
  'aborted',
  'failed',
] as const;

/** @public */
export type DeploymentPhase = (typeof DEPLOYMENT_PHASES)[number];

/** Phases a deployment does not leave (but by `retry`). @public */
export const TERMINAL_DEPLOYMENT_PHASES: readonly DeploymentPhase[] = [
  'succeeded',
  'rolled-back',
  'aborted',
  'failed',
];

/**
 * One planned step of a deployment, as the controller executes it. `new`
 * is the version being deployed, `old` the one it replaces.
 *
 * @public
 */
export type DeploymentStepSpec =
  | {
      kind: 'approval';
      gate: 'start' | 'promotion';
      timeoutMs?: number;
      onTimeout: 'approve' | 'reject' | 'wait';
    }
  /** Bring the instances of a side to this count (new ones must pass readiness). */
  | { kind: 'scale'; side: 'new' | 'old'; replicas: number }
  /** The new version's share of traffic, in percent (the old one gets the rest). */
  | { kind: 'setWeight'; weight: number }
  /** A/B: requests matching go to the new version. */
  | { kind: 'setMatch'; match: AbMatch }
  /** `durationMs` absent: until promoted. */
  | { kind: 'pause'; durationMs?: number }
  | {
      kind: 'wait';
      durationMs: number;
      reason: 'min-ready' | 'scale-down-delay' | 'experiment';
    }
  | {
      kind: 'analysis';
      durationMs: number;
      criteria: AnalysisCriteria;
      compare?: boolean;
    }
  | { kind: 'smoke'; test: z.infer<typeof smokeTestSchema> }
  /** A/B: the winner, by the last analysis or by a person. */
  | { kind: 'decide'; by: 'analysis' | 'manual' }
  /** The new version becomes the stable one: traffic all on it, old instances stopped, state back to running. */
  | { kind: 'finish' };

/** @public */
export type DeploymentStepStatus =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'skipped';

/** @public */
export type DeploymentStep = DeploymentStepSpec & {
  index: number;
  status: DeploymentStepStatus;
  startedAt?: string;
  finishedAt?: string;
  message?: string;
};

/** Measurements of one version in an analysis window. @public */
export interface VersionEvidence {
  version: string;
  requests: number;
  /** Percent of requests answered below 500. */
  successRate?: number;
  /** Percent answered 5xx or not at all. */
  errorRate?: number;
  p99Ms?: number;
  unhealthyInstances: number;
}

/** @public */
export type AnalysisVerdict = 'running' | 'pass' | 'fail' | 'insufficient-data';

/** One analysis window and what it found. @public */
export interface AnalysisRun {
  step: number;
  startedAt: string;
  finishedAt?: string;
  verdict: AnalysisVerdict;
  /** Times the window was extended for too little traffic. */
  extensions: number;
  /** Requests the new version needed in the window. */
  minRequests: number;
  evidence: VersionEvidence[];
  /** Why it passed or failed, one line per criterion. */
  reasons: string[];
  providers?: Array<{
    name: string;
    verdict: AnalysisVerdict;
    message?: string;
  }>;
}

/** One decision at an approval gate. @public */
export interface ApprovalRecord {
  step: number;
  gate: 'start' | 'promotion' | 'insufficient-data';
  requestedAt: string;
  decidedAt?: string;
  decision?: 'approved' | 'rejected';
  /** A user entity ref, or `timeout` for a decision the gate's timeout made. */
  decidedBy?: string;
  reason?: string;
}

/**
 * A rollout of one plugin from one version to another, as
 * `GET /deployments/{id}` answers it.
 *
 * @public
 */
export interface Deployment {
  id: string;
  pluginId: string;
  tenant: string;
  strategy: DeploymentStrategy;
  fromVersion: string;
  toVersion: string;
  environment?: string;
  config: DeploymentConfig;
  phase: DeploymentPhase;
  /** Why it is paused, waiting, rolled back or failed. */
  message?: string;
  /** Index into `steps` of the step being executed (`steps.length` once done). */
  currentStep: number;
  steps: DeploymentStep[];
  /** Share of traffic per version, in percent (sums to 100 while serving). */
  traffic: Record<string, number>;
  /** A/B: requests matching this go to the new version. */
  match?: AbMatch;
  /** Instance ids per version this deployment runs. */
  instances: Record<string, string[]>;
  analysis: AnalysisRun[];
  approvals: ApprovalRecord[];
  /** A/B: the winning version. */
  winner?: string;
  /** The operation that created it. */
  operationId?: string;
  createdBy?: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
}

/** Actions on a deployment: `POST /deployments/{id}/{action}`. @public */
export const DEPLOYMENT_ACTIONS = [
  'approve',
  'reject',
  'promote',
  'pause',
  'resume',
  'abort',
  'retry',
  'rollback',
] as const;

/** @public */
export type DeploymentAction = (typeof DEPLOYMENT_ACTIONS)[number];

/** The body of a deployment action. @public */
export const deploymentActionRequestSchema = z
  .object({
    reason: z.string().max(1000).optional(),
    /** promote: skip every remaining step (straight to 100% and finish). */
    full: z.boolean().optional(),
    /** promote of an A/B test: the winning version (default: the new one). */
    winner: z.string().min(1).max(100).optional(),
  })
  .strict();

/** @public */
export type DeploymentActionRequest = z.infer<
  typeof deploymentActionRequestSchema
>;

/** Query of `GET /deployments`. @public */
export const listDeploymentsQuerySchema = z
  .object({
    pluginId: z.string().min(1).max(200).optional(),
    phase: z.enum(DEPLOYMENT_PHASES).optional(),
    active: z
      .enum(['true', 'false'])
      .transform(v => v === 'true')
      .optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    /** The `nextCursor` of the page before (older deployments follow). */
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();
