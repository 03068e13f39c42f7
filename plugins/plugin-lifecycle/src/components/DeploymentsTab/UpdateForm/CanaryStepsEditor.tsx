import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import { AnalysisFields } from './AnalysisFields';
import { CanaryStepDraft, defaultAnalysis } from './draft';
import { GroupError, SelectInput, TextInput } from './fields';

const PATH = 'deploymentConfig.canary.steps';

/** A step of another kind, keeping what carries over. */
function changeKind(
  step: CanaryStepDraft,
  kind: CanaryStepDraft['kind'],
): CanaryStepDraft {
  switch (kind) {
    case 'setWeight':
      return { kind, weight: step.kind === 'setWeight' ? step.weight : '' };
    case 'pause':
      return { kind, seconds: step.kind === 'setWeight' ? '' : step.seconds };
    default:
      return {
        kind,
        seconds: step.kind === 'setWeight' ? '60' : step.seconds || '60',
        analysis: step.kind === 'analysis' ? step.analysis : defaultAnalysis(),
      };
  }
}

/**
 * The canary's explicit steps (Argo Rollouts' shape) as an editable list:
 * set the new version's weight, pause (for a time or until promoted), or
 * analyse a window of its traffic.
 */
export const CanaryStepsEditor = (props: {
  steps: CanaryStepDraft[];
  onChange: (steps: CanaryStepDraft[]) => void;
}) => {
  const { steps } = props;
  const replace = (i: number, step: CanaryStepDraft) =>
    props.onChange(steps.map((s, j) => (j === i ? step : s)));
  return (
    <Box data-testid="canary-steps">
      <Typography variant="subtitle2">Steps</Typography>
      {steps.map((step, i) => (
        <Box
          key={i}
          display="flex"
          flexWrap="wrap"
          alignItems="flex-start"
          style={{ columnGap: 12 }}
          data-testid={`canary-step-${i}`}
        >
          <SelectInput
            path={`${PATH}.${i}`}
            label={`Step ${i + 1}`}
            value={step.kind}
            width={170}
            options={[
              { value: 'setWeight', label: 'Set weight' },
              { value: 'pause', label: 'Pause' },
              { value: 'analysis', label: 'Analysis' },
            ]}
            onChange={kind => replace(i, changeKind(step, kind))}
          />
          {step.kind === 'setWeight' && (
            <TextInput
              numeric
              path={`${PATH}.${i}.setWeight`}
              label="Weight (%)"
              value={step.weight}
              onChange={weight => replace(i, { ...step, weight })}
            />
          )}
          {step.kind === 'pause' && (
            <TextInput
              numeric
              path={`${PATH}.${i}.pause.duration`}
              label="Pause (s)"
              placeholder="until promoted"
              helperText={step.seconds.trim() ? undefined : 'until promoted'}
              value={step.seconds}
              onChange={seconds => replace(i, { ...step, seconds })}
            />
          )}
          {step.kind === 'analysis' && (
            <TextInput
              numeric
              path={`${PATH}.${i}.analysis.duration`}
              label="Window (s)"
              value={step.seconds}
              onChange={seconds => replace(i, { ...step, seconds })}
            />
          )}
          <Button
            size="small"
            aria-label={`Remove step ${i + 1}`}
            onClick={() => props.onChange(steps.filter((_, j) => j !== i))}
            disabled={steps.length <= 1}
            style={{ marginTop: 14 }}
          >
            Remove
          </Button>
          {step.kind === 'analysis' && (
            <Box width="100%" pl={2}>
              <AnalysisFields
                path={`${PATH}.${i}.analysis`}
                value={step.analysis}
                onChange={analysis => replace(i, { ...step, analysis })}
              />
            </Box>
          )}
        </Box>
      ))}
      <GroupError path={PATH} />
      <Button
        size="small"
        onClick={() =>
          props.onChange([...steps, { kind: 'setWeight', weight: '100' }])
        }
      >
        Add step
      </Button>
    </Box>
  );
};
