import { useEffect, useState } from 'react';
import { ResponseError } from '@backstage/errors';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import { InfoCard, WarningPanel } from '@backstage/core-components';
import { useApi } from '@backstage/frontend-plugin-api';
import {
  ConfigWriteResult,
  SetConfigurationRequest,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { ApplyStatus } from './ApplyStatus';
import { formatVersion } from './EffectiveConfigCard';
import { LayerEditorForm, SaveAttempt } from './LayerEditorForm';
import { PendingApply, usePendingApply } from './useApplyOperation';
import { ConfigLayerData, describeWriteFailure } from './useConfiguration';

type Outcome =
  | { saved: ConfigWriteResult }
  | { failed: ReturnType<typeof describeWriteFailure> };

/** Props of {@link LayerEditorCard}. */
export interface LayerEditorCardProps {
  pluginId: string;
  data: ConfigLayerData;
  /** Reloads the layer and the effective configuration. */
  onChanged: () => void;
  /** Saving disabled: the user may not configure the plugin. */
  readOnly?: boolean;
}

/**
 * Edits the latest version of one layer and saves the result as a new
 * version, check-and-set against the version it was loaded at.
 */
export const LayerEditorCard = ({
  pluginId,
  data,
  onChanged,
  readOnly = false,
}: LayerEditorCardProps) => {
  const api = useApi(pluginLifecycleApiRef);
  const [saving, setSaving] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();
  const { layer, latest } = data;
  const version = latest?.version ?? 0;
  // An apply under way when the tab opened, kept once found so that its
  // outcome stays in sight after the reload it causes.
  const pending = usePendingApply(pluginId, layer, version);
  const [followed, setFollowed] = useState<PendingApply>();
  useEffect(() => {
    if (pending) {
      setFollowed(f => (f?.operationId === pending.operationId ? f : pending));
    }
  }, [pending]);
  // The apply to follow: of this user's save, else the one found.
  const apply =
    outcome && 'saved' in outcome
      ? outcome.saved.operationId && {
          operationId: outcome.saved.operationId,
          version: outcome.saved.version.version,
        }
      : followed;

  const save = async (
    request: SetConfigurationRequest,
  ): Promise<SaveAttempt> => {
    setSaving(true);
    setOutcome(undefined);
    setFollowed(undefined);
    try {
      const saved = await api.setConfiguration(pluginId, layer, request);
      setOutcome({ saved });
      if (saved.changed !== false) {
        onChanged();
      }
      return {};
    } catch (e) {
      // A validation error goes next to the fields it names.
      if (ResponseError.is(e) && e.statusCode === 400) {
        return { invalid: e.body.error.message };
      }
      setOutcome({ failed: describeWriteFailure(e as Error, 'save') });
      return {};
    } finally {
      setSaving(false);
    }
  };

  return (
    <InfoCard
      title={`Edit layer: ${layer}`}
      subheader={`Latest version: ${formatVersion(version)}`}
    >
      {outcome && 'saved' in outcome && (
        <Typography
          variant="body2"
          color="primary"
          paragraph
          data-testid="config-save-result"
        >
          {outcome.saved.changed === false
            ? `No change: ${layer} stays at ${formatVersion(
                outcome.saved.version.version,
              )}.`
            : `Saved ${layer} ${formatVersion(outcome.saved.version.version)}.`}
        </Typography>
      )}
      {apply && (
        <ApplyStatus
          key={apply.operationId}
          pluginId={pluginId}
          layer={layer}
          version={apply.version}
          operationId={apply.operationId}
          latestVersion={version}
          onEnded={onChanged}
        />
      )}
      {outcome && 'failed' in outcome && (
        <div data-testid="config-save-error">
          <WarningPanel
            severity="error"
            title={outcome.failed.title}
            message={outcome.failed.message}
            defaultExpanded
          >
            {outcome.failed.conflict && (
              <div>
                <Typography variant="body2" paragraph>
                  Reload the layer to see the other change, then make yours
                  again.
                </Typography>
                <Button
                  variant="outlined"
                  onClick={() => {
                    setOutcome(undefined);
                    onChanged();
                  }}
                >
                  Reload layer (discards your edits)
                </Button>
              </div>
            )}
          </WarningPanel>
        </div>
      )}
      {readOnly && (
        <Typography
          variant="body2"
          color="textSecondary"
          paragraph
          data-testid="config-read-only"
        >
          You may read this configuration but not change it (not allowed:
          plugin-lifecycle.plugin.configure).
        </Typography>
      )}
      <LayerEditorForm
        // A new version (saved here or elsewhere) starts a new draft.
        key={`${layer}:${version}`}
        version={version}
        entries={latest?.entries ?? []}
        saving={saving || readOnly}
        onSave={save}
      />
    </InfoCard>
  );
};
