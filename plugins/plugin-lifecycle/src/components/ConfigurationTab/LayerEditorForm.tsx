import { useMemo, useState } from 'react';
import Button from '@material-ui/core/Button';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { WarningPanel } from '@backstage/core-components';
import {
  ConfigEntryView,
  SetConfigurationRequest,
} from '@internal/plugin-lifecycle-common';
import { DraftEntry, emptyDraftEntry, fromDraft, toDraftEntry } from './draft';
import {
  DraftErrors,
  hasErrors,
  isUnchanged,
  serverRowErrors,
  validateDrafts,
} from './draftValidation';
import { EntryRowEditor } from './EntryRowEditor';

const useStyles = makeStyles(theme => ({
  table: {
    overflowX: 'auto',
  },
  footer: {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'flex-start',
    gap: theme.spacing(2),
    marginTop: theme.spacing(2),
  },
  description: {
    flex: '1 1 300px',
  },
  head: {
    whiteSpace: 'nowrap',
  },
  hint: {
    alignSelf: 'center',
  },
}));

/** What became of a save, as far as the form is concerned. */
export interface SaveAttempt {
  /** The backend refused the entries (400): its message, for the fields. */
  invalid?: string;
}

/** Props of {@link LayerEditorForm}. */
export interface LayerEditorFormProps {
  /** The layer's latest version (0: none yet): the save's expected version. */
  version: number;
  /** The entries of that version, secrets masked. */
  entries: ConfigEntryView[];
  saving?: boolean;
  onSave: (request: SetConfigurationRequest) => Promise<SaveAttempt | void>;
}

/**
 * The entries of one layer as editable rows, a description of the change
 * and a Save button. Mounted afresh for every version it edits.
 */
export const LayerEditorForm = ({
  version,
  entries,
  saving,
  onSave,
}: LayerEditorFormProps) => {
  const classes = useStyles();
  // The rows as loaded: what "no change" is measured against.
  const [loaded] = useState(() => entries.map(toDraftEntry));
  const [drafts, setDrafts] = useState(loaded);
  const [description, setDescription] = useState('');
  // The backend's objections, by row, until the row is edited.
  const [server, setServer] = useState<{ errors: DraftErrors; rest?: string }>({
    errors: {},
  });

  const errors = useMemo(() => validateDrafts(drafts), [drafts]);
  const unchanged = useMemo(
    () => isUnchanged(drafts, loaded),
    [drafts, loaded],
  );
  const invalid = hasErrors(errors);

  const forget = (id: string) =>
    setServer(s => {
      const { [id]: _dropped, ...others } = s.errors;
      return { ...s, errors: others };
    });
  const update = (id: string, patch: Partial<DraftEntry>) => {
    setDrafts(rows => rows.map(r => (r.id === id ? { ...r, ...patch } : r)));
    forget(id);
  };
  const remove = (id: string) => {
    setDrafts(rows => rows.filter(r => r.id !== id));
    forget(id);
  };

  const save = async () => {
    const result = fromDraft(drafts);
    if (invalid || unchanged || result.problems.length > 0) {
      return;
    }
    setServer({ errors: {} });
    const attempt = await onSave({
      entries: result.entries,
      expectedVersion: version,
      ...(description.trim() ? { description: description.trim() } : {}),
    });
    if (attempt?.invalid) {
      setServer(serverRowErrors(attempt.invalid, drafts));
    }
  };

  let hint: string | undefined;
  if (invalid) {
    hint = 'Fix the fields marked in red to save.';
  } else if (unchanged) {
    hint = 'No changes to save.';
  }

  return (
    // Not a <form>: Enter in a field should not save a configuration.
    <div data-testid="config-editor">
      <div className={classes.table}>
        <Table size="small" aria-label="Configuration entries">
          <TableHead>
            <TableRow>
              <TableCell className={classes.head}>Key</TableCell>
              <TableCell className={classes.head}>Type</TableCell>
              <TableCell className={classes.head}>Value</TableCell>
              <TableCell className={classes.head} padding="checkbox">
                Required
              </TableCell>
              <TableCell className={classes.head} padding="checkbox">
                Sensitive
              </TableCell>
              <TableCell className={classes.head}>Description</TableCell>
              <TableCell />
            </TableRow>
          </TableHead>
          <TableBody>
            {drafts.map((draft, index) => (
              <EntryRowEditor
                key={draft.id}
                entry={draft}
                index={index}
                errors={{ ...errors[draft.id], ...server.errors[draft.id] }}
                disabled={saving}
                onChange={patch => update(draft.id, patch)}
                onRemove={() => remove(draft.id)}
              />
            ))}
            {drafts.length === 0 && (
              <TableRow>
                <TableCell colSpan={7}>
                  <Typography variant="body2" color="textSecondary">
                    No entries in this layer.
                  </Typography>
                </TableCell>
              </TableRow>
            )}
          </TableBody>
        </Table>
      </div>
      <Button
        size="small"
        color="primary"
        disabled={saving}
        onClick={() => setDrafts(rows => [...rows, emptyDraftEntry()])}
      >
        Add entry
      </Button>
      {server.rest && (
        <div data-testid="config-save-invalid">
          <WarningPanel
            severity="error"
            title="Invalid configuration"
            message={server.rest}
            defaultExpanded
          />
        </div>
      )}
      <div className={classes.footer}>
        <TextField
          id="plugin-lifecycle-config-change-description"
          className={classes.description}
          label="Change description"
          placeholder="What changed, and why"
          size="small"
          variant="outlined"
          value={description}
          disabled={saving}
          onChange={event => setDescription(event.target.value)}
        />
        <Button
          variant="contained"
          color="primary"
          disabled={saving || invalid || unchanged}
          onClick={save}
        >
          Save configuration
        </Button>
        <Button
          disabled={saving || unchanged}
          onClick={() => {
            setDrafts(loaded);
            setServer({ errors: {} });
          }}
        >
          Discard changes
        </Button>
        {hint && (
          <Typography
            variant="body2"
            color="textSecondary"
            className={classes.hint}
            data-testid="config-save-hint"
          >
            {hint}
          </Typography>
        )}
      </div>
    </div>
  );
};
