import Box from '@material-ui/core/Box';
import { AnalysisDraft } from './draft';
import { SelectInput, TextInput } from './fields';

/** The thresholds of an analysis window, each with its error. */
export const AnalysisFields = (props: {
  /** The path of the criteria in the request. */
  path: string;
  value: AnalysisDraft;
  onChange: (value: AnalysisDraft) => void;
}) => {
  const { path, value } = props;
  const set = (patch: Partial<AnalysisDraft>) =>
    props.onChange({ ...value, ...patch });
  return (
    <Box display="flex" flexWrap="wrap" style={{ columnGap: 12 }}>
      <TextInput
        numeric
        path={`${path}.minRequests`}
        label="Min. requests"
        value={value.minRequests}
        onChange={v => set({ minRequests: v })}
      />
      <TextInput
        numeric
        path={`${path}.successThreshold`}
        label="Min. success rate (%)"
        value={value.successThreshold}
        onChange={v => set({ successThreshold: v })}
      />
      <TextInput
        numeric
        path={`${path}.errorThreshold`}
        label="Max. error rate (%)"
        value={value.errorThreshold}
        onChange={v => set({ errorThreshold: v })}
      />
      <TextInput
        numeric
        path={`${path}.maxLatencyP99Ms`}
        label="Max. p99 (ms)"
        value={value.maxLatencyP99Ms}
        onChange={v => set({ maxLatencyP99Ms: v })}
      />
      <TextInput
        numeric
        path={`${path}.maxExtensions`}
        label="Max. extensions"
        value={value.maxExtensions}
        onChange={v => set({ maxExtensions: v })}
      />
      <SelectInput
        path={`${path}.onInsufficientData`}
        label="Too little traffic"
        value={value.onInsufficientData}
        options={[
          { value: 'fail', label: 'fail (roll back)' },
          { value: 'wait-for-approval', label: 'wait for approval' },
        ]}
        onChange={v => set({ onInsufficientData: v })}
        width={190}
      />
    </Box>
  );
};
