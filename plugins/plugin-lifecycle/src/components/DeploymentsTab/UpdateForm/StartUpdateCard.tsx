import { useMemo, useState } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import { InfoCard, WarningPanel } from '@backstage/core-components';
import { useApi } from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  DEPLOYMENT_STRATEGIES,
  DeploymentStrategy,
  OperationAccepted,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../../api';
import { describeError } from '../../shared/describeError';
import { defaultDraft, FieldErrors, UpdateDraft } from './draft';
import { parseServerErrors, placeErrors } from './errors';
import { fieldPaths, toUpdateRequest } from './toRequest';
import {
  FieldErrorsContext,
  GroupError,
  SelectInput,
  VersionInput,
} from './fields';
import { StrategySettings } from './StrategySettings';

const STRATEGY_LABELS: Record<DeploymentStrategy, string> = {
  rolling: 'Rolling',
  canary: 'Canary',
  'blue-green': 'Blue-green',
  'a-b-testing': 'A/B testing',
  recreate: 'Recreate',
};

/** Props of {@link StartUpdateCard}. */
export interface StartUpdateCardProps {
  pluginId: string;
  currentVersion?: string;
  /** Why an update cannot start now (a deployment runs, no permission). */
  blockedReason?: string;
  /** After the server accepted the update. */
  onStarted: (accepted: OperationAccepted) => void;
}

/**
 * Starts an update: the version, the strategy and that strategy's settings
 * with their defaults, checked with the API's schemas before sending;
 * problems show next to their field, the server's too where it names one.
 */
export const StartUpdateCard = (props: StartUpdateCardProps) => {
  const { pluginId, blockedReason } = props;
  const api = useApi(pluginLifecycleApiRef);
  const [draft, setDraft] = useState<UpdateDraft>(() => defaultDraft());
  const [errors, setErrors] = useState<FieldErrors>({});
  const [failure, setFailure] = useState<string>();
  const [sending, setSending] = useState(false);

  const placed = useMemo(
    () => placeErrors(errors, fieldPaths(draft)),
    [errors, draft],
  );
  const change = (next: UpdateDraft) => {
    setDraft(next);
    // A field's error goes once it changes; the next submit checks again.
    setErrors({});
  };

  const submit = async () => {
    setFailure(undefined);
    const result = toUpdateRequest(draft);
    if (result.errors) {
      setErrors(result.errors);
      return;
    }
    setSending(true);
    try {
      const accepted = await api.updatePlugin(pluginId, result.request);
      setErrors({});
      props.onStarted(accepted);
    } catch (e) {
      const error = e as Error;
      const reason = ResponseError.is(error)
        ? error.body?.error?.message
        : undefined;
      if (ResponseError.is(error) && error.statusCode === 400 && reason) {
        const { fields, rest } = parseServerErrors(reason);
        setErrors(fields);
        if (rest.length > 0)
          setFailure(`${rest.join('; ')} (400 ${error.statusText})`);
      } else {
        setFailure(describeError(error));
      }
    } finally {
      setSending(false);
    }
  };

  return (
    <InfoCard title="Start an update">
      <FieldErrorsContext.Provider value={placed}>
        {failure && (
          <WarningPanel
            severity="error"
            title="Could not start the update"
            message={failure}
            defaultExpanded
          />
        )}
        {blockedReason && (
          <Typography variant="body2" color="textSecondary" paragraph>
            {blockedReason}
          </Typography>
        )}
        <Box
          component="form"
          aria-label="Start an update"
          onSubmit={(e: React.FormEvent) => {
            e.preventDefault();
            submit();
          }}
        >
          <Box
            display="flex"
            flexWrap="wrap"
            alignItems="center"
            style={{ columnGap: 12 }}
          >
            <VersionInput
              pluginId={pluginId}
              value={draft.version}
              placeholder={
                props.currentVersion ? `now ${props.currentVersion}` : '1.2.3'
              }
              onChange={version => change({ ...draft, version })}
            />
            <SelectInput
              path="deploymentStrategy"
              label="Strategy"
              value={draft.strategy}
              options={DEPLOYMENT_STRATEGIES.map(s => ({
                value: s,
                label: STRATEGY_LABELS[s],
              }))}
              onChange={strategy => change({ ...draft, strategy })}
            />
          </Box>
          <StrategySettings draft={draft} onChange={change} />
          <GroupError path="" />
          <Box mt={2} display="flex" style={{ gap: 8 }}>
            <Button
              type="submit"
              variant="contained"
              color="primary"
              disabled={sending || Boolean(blockedReason)}
            >
              Start update
            </Button>
            <Button
              onClick={() => change(defaultDraft(draft.version))}
              disabled={sending}
            >
              Reset settings
            </Button>
          </Box>
        </Box>
      </FieldErrorsContext.Provider>
    </InfoCard>
  );
};
