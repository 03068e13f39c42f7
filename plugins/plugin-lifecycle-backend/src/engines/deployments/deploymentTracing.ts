import { Attributes, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { DeploymentRecord } from '../../database/DeploymentStore';
import {
  ATTRS,
  SPANS,
  contextFromCarrier,
  inSpan,
  traceCarrier,
  tracer,
} from '../tracing/tracing';
import type { DeploymentContext, StepOutcome } from './deploymentTypes';

function deploymentAttributes(d: DeploymentRecord): Attributes {
  return {
    [ATTRS.pluginId]: d.pluginId,
    [ATTRS.tenant]: d.tenant,
    [ATTRS.deploymentId]: d.id,
    [ATTRS.strategy]: d.strategy,
    [ATTRS.fromVersion]: d.fromVersion,
    [ATTRS.toVersion]: d.toVersion,
  };
}

/**
 * Records the hand-over of a deployment in a `plugin-lifecycle.deployment`
 * span under the active one (the update operation's) and returns its trace
 * context, which the deployment keeps: its steps run later, maybe on
 * another replica, as children of that span. Undefined without a tracer.
 */
export function deploymentTrace(
  d: DeploymentRecord,
): Record<string, string> | undefined {
  const parent = context.active();
  const span = tracer().startSpan(
    SPANS.deployment,
    { attributes: deploymentAttributes(d) },
    parent,
  );
  try {
    return traceCarrier(trace.setSpan(parent, span));
  } finally {
    span.end();
  }
}

/**
 * Runs one execution of a deployment step (or a rollback attempt: `step`
 * undefined) in a span under the deployment's, with the outcome `describe`
 * reads from its result; a failure it names (or a throw) marks the span as
 * an error.
 */
export function inDeploymentSpan<T>(
  d: DeploymentRecord,
  step: { index: number; kind: string } | undefined,
  fn: () => Promise<T> | T,
  describe: (result: T) => { outcome: string; failure?: string },
): Promise<T> {
  const stored = (d.stepState.context as DeploymentContext | undefined)?.trace;
  return inSpan(
    step ? SPANS.deploymentStep : SPANS.deploymentRollback,
    {
      parent: contextFromCarrier(stored),
      attributes: {
        ...deploymentAttributes(d),
        ...(step
          ? { [ATTRS.stepIndex]: step.index, [ATTRS.stepKind]: step.kind }
          : {}),
      },
    },
    async span => {
      const result = await fn();
      const { outcome, failure } = describe(result);
      span.setAttribute(ATTRS.outcome, outcome);
      if (failure !== undefined) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
      }
      return result;
    },
  );
}

/** A step's outcome on its span: `fail` is an error. */
export function stepOutcome(outcome: StepOutcome) {
  return {
    outcome: outcome.kind,
    failure: outcome.kind === 'fail' ? outcome.message : undefined,
  };
}
