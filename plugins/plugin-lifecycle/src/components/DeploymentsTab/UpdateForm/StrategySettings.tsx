import Box from '@material-ui/core/Box';
import Typography from '@material-ui/core/Typography';
import { AnalysisFields } from './AnalysisFields';
import { CanaryStepsEditor } from './CanaryStepsEditor';
import { GateDraft, UpdateDraft } from './draft';
import { CheckInput, GroupError, SelectInput, TextInput } from './fields';

const C = 'deploymentConfig';
const Row = ({ children }: { children: React.ReactNode }) => (
  <Box
    display="flex"
    flexWrap="wrap"
    alignItems="center"
    style={{ columnGap: 12 }}
  >
    {children}
  </Box>
);

type Props<K extends keyof UpdateDraft> = {
  value: UpdateDraft[K];
  onChange: (value: UpdateDraft[K]) => void;
};

const CanarySettings = ({ value, onChange }: Props<'canary'>) => {
  const set = (patch: Partial<UpdateDraft['canary']>) =>
    onChange({ ...value, ...patch });
  return (
    <>
      <Row>
        <SelectInput
          path={`${C}.canary.mode`}
          label="Traffic moves by"
          value={value.mode}
          options={[
            { value: 'steps', label: 'explicit steps' },
            { value: 'increments', label: 'fixed increments' },
          ]}
          onChange={mode => set({ mode })}
        />
        <TextInput
          numeric
          path={`${C}.canary.canaryReplicas`}
          label="Canary instances"
          value={value.canaryReplicas}
          onChange={canaryReplicas => set({ canaryReplicas })}
        />
        <CheckInput
          label="Promote by itself after the last step"
          checked={value.autoPromote}
          onChange={autoPromote => set({ autoPromote })}
        />
      </Row>
      {value.mode === 'steps' ? (
        <CanaryStepsEditor
          steps={value.steps}
          onChange={steps => set({ steps })}
        />
      ) : (
        <>
          <Row>
            <TextInput
              numeric
              path={`${C}.canary.trafficIncrement`}
              label="Increment (%)"
              value={value.trafficIncrement}
              onChange={trafficIncrement => set({ trafficIncrement })}
            />
            <TextInput
              numeric
              path={`${C}.canary.incrementInterval`}
              label="Interval (s)"
              value={value.incrementSeconds}
              onChange={incrementSeconds => set({ incrementSeconds })}
            />
          </Row>
          <Typography variant="subtitle2">
            Analysis of each increment
          </Typography>
          <AnalysisFields
            path={`${C}.canary.analysis`}
            value={value.analysis}
            onChange={analysis => set({ analysis })}
          />
        </>
      )}
      <GroupError path={`${C}.canary`} />
    </>
  );
};

const RollingSettings = ({ value, onChange }: Props<'rolling'>) => {
  const set = (patch: Partial<UpdateDraft['rolling']>) =>
    onChange({ ...value, ...patch });
  return (
    <Row>
      <TextInput
        path={`${C}.rolling.maxSurge`}
        label="Max. surge"
        helperText="count or %"
        numeric
        value={value.maxSurge}
        onChange={maxSurge => set({ maxSurge })}
      />
      <TextInput
        path={`${C}.rolling.maxUnavailable`}
        label="Max. unavailable"
        helperText="count or %"
        numeric
        value={value.maxUnavailable}
        onChange={maxUnavailable => set({ maxUnavailable })}
      />
      <TextInput
        numeric
        path={`${C}.rolling.minReadySeconds`}
        label="Min. ready (s)"
        value={value.minReadySeconds}
        onChange={minReadySeconds => set({ minReadySeconds })}
      />
      <TextInput
        numeric
        path={`${C}.rolling.progressDeadlineSeconds`}
        label="Progress deadline (s)"
        value={value.progressDeadlineSeconds}
        onChange={progressDeadlineSeconds => set({ progressDeadlineSeconds })}
      />
      <GroupError path={`${C}.rolling`} />
    </Row>
  );
};

const BlueGreenSettings = ({ value, onChange }: Props<'blueGreen'>) => {
  const set = (patch: Partial<UpdateDraft['blueGreen']>) =>
    onChange({ ...value, ...patch });
  return (
    <>
      <Row>
        <TextInput
          path={`${C}.blueGreen.smokeTest`}
          label="Smoke test path"
          helperText="empty: no smoke test"
          value={value.smokePath}
          onChange={smokePath => set({ smokePath })}
        />
        <TextInput
          numeric
          path={`${C}.blueGreen.scaleDownDelay`}
          label="Keep old set warm (s)"
          value={value.scaleDownDelaySeconds}
          onChange={scaleDownDelaySeconds => set({ scaleDownDelaySeconds })}
        />
        <CheckInput
          label="Approval before the switch"
          checked={value.requireApproval}
          onChange={requireApproval => set({ requireApproval })}
        />
        <CheckInput
          label="Analyse after the switch"
          checked={value.analyse}
          onChange={analyse => set({ analyse })}
        />
      </Row>
      {value.analyse && (
        <>
          <TextInput
            numeric
            path={`${C}.blueGreen.analysis.duration`}
            label="Window (s)"
            value={value.analysisSeconds}
            onChange={analysisSeconds => set({ analysisSeconds })}
          />
          <AnalysisFields
            path={`${C}.blueGreen.analysis`}
            value={value.analysis}
            onChange={analysis => set({ analysis })}
          />
        </>
      )}
      <GroupError path={`${C}.blueGreen`} />
    </>
  );
};

const AbTestingSettings = ({ value, onChange }: Props<'abTesting'>) => {
  const set = (patch: Partial<UpdateDraft['abTesting']>) =>
    onChange({ ...value, ...patch });
  const kind = value.by === 'header' ? 'header' : 'cookie';
  return (
    <>
      <Row>
        <SelectInput
          path={`${C}.abTesting.by`}
          label="Route to B by"
          value={value.by}
          options={[
            { value: 'percentage', label: 'percentage' },
            { value: 'header', label: 'header' },
            { value: 'cookie', label: 'cookie' },
          ]}
          onChange={by => set({ by })}
        />
        {value.by === 'percentage' ? (
          <TextInput
            numeric
            path={`${C}.abTesting.percentage`}
            label="Share to B (%)"
            value={value.percentage}
            onChange={percentage => set({ percentage })}
          />
        ) : (
          <>
            <TextInput
              path={`${C}.abTesting.match.${kind}.name`}
              label={`${kind === 'header' ? 'Header' : 'Cookie'} name`}
              value={value.name}
              onChange={name => set({ name })}
            />
            <TextInput
              path={`${C}.abTesting.match.${kind}.value`}
              label="Value"
              value={value.value}
              onChange={v => set({ value: v })}
            />
          </>
        )}
        <TextInput
          numeric
          path={`${C}.abTesting.duration`}
          label="Experiment (s)"
          value={value.durationSeconds}
          onChange={durationSeconds => set({ durationSeconds })}
        />
        <SelectInput
          path={`${C}.abTesting.winner`}
          label="Winner chosen by"
          value={value.winner}
          options={[
            { value: 'analysis', label: 'the analysis' },
            { value: 'manual', label: 'a person' },
          ]}
          onChange={winner => set({ winner })}
        />
        <TextInput
          numeric
          path={`${C}.abTesting.variantReplicas`}
          label="B instances"
          value={value.variantReplicas}
          onChange={variantReplicas => set({ variantReplicas })}
        />
      </Row>
      <Typography variant="subtitle2">Analysis</Typography>
      <AnalysisFields
        path={`${C}.abTesting.analysis`}
        value={value.analysis}
        onChange={analysis => set({ analysis })}
      />
      <GroupError path={`${C}.abTesting.match`} />
      <GroupError path={`${C}.abTesting`} />
    </>
  );
};

const GateFields = (props: {
  label: string;
  path: string;
  value: GateDraft;
  onChange: (value: GateDraft) => void;
}) => {
  const { value } = props;
  const set = (patch: Partial<GateDraft>) =>
    props.onChange({ ...value, ...patch });
  return (
    <Row>
      <CheckInput
        label={props.label}
        checked={value.enabled}
        onChange={enabled => set({ enabled })}
      />
      {value.enabled && (
        <>
          <TextInput
            numeric
            path={`${props.path}.timeoutMs`}
            label="Timeout (s)"
            placeholder="none"
            value={value.timeoutSeconds}
            onChange={timeoutSeconds => set({ timeoutSeconds })}
          />
          <SelectInput
            path={`${props.path}.onTimeout`}
            label="On timeout"
            value={value.onTimeout}
            options={[
              { value: 'wait', label: 'keep waiting' },
              { value: 'approve', label: 'approve' },
              { value: 'reject', label: 'reject' },
            ]}
            onChange={onTimeout => set({ onTimeout })}
            width={160}
          />
        </>
      )}
    </Row>
  );
};

/** The settings of the chosen strategy, then the approval gates any strategy can have. */
export const StrategySettings = ({
  draft,
  onChange,
}: {
  draft: UpdateDraft;
  onChange: (draft: UpdateDraft) => void;
}) => {
  const set =
    <K extends keyof UpdateDraft>(key: K) =>
    (value: UpdateDraft[K]) =>
      onChange({ ...draft, [key]: value });
  return (
    <Box data-testid="strategy-settings">
      {draft.strategy === 'canary' && (
        <CanarySettings value={draft.canary} onChange={set('canary')} />
      )}
      {draft.strategy === 'rolling' && (
        <RollingSettings value={draft.rolling} onChange={set('rolling')} />
      )}
      {draft.strategy === 'blue-green' && (
        <BlueGreenSettings
          value={draft.blueGreen}
          onChange={set('blueGreen')}
        />
      )}
      {draft.strategy === 'a-b-testing' && (
        <AbTestingSettings
          value={draft.abTesting}
          onChange={set('abTesting')}
        />
      )}
      {draft.strategy === 'recreate' && (
        <Typography variant="body2" color="textSecondary">
          Every instance stops, then the new version starts: the plugin is down
          in between.
        </Typography>
      )}
      <Typography variant="subtitle2" style={{ marginTop: 8 }}>
        Approvals
      </Typography>
      <GateFields
        label="Approval before the rollout starts"
        path={`${C}.approvals.beforeStart`}
        value={draft.approvals.beforeStart}
        onChange={beforeStart =>
          onChange({ ...draft, approvals: { ...draft.approvals, beforeStart } })
        }
      />
      <GateFields
        label="Approval before the new version takes all traffic"
        path={`${C}.approvals.beforePromotion`}
        value={draft.approvals.beforePromotion}
        onChange={beforePromotion =>
          onChange({
            ...draft,
            approvals: { ...draft.approvals, beforePromotion },
          })
        }
      />
      <GroupError path={C} />
    </Box>
  );
};
