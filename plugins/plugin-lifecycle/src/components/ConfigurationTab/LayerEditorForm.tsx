import { useState } from 'react';
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
}));

/** Props of {@link LayerEditorForm}. */
export interface LayerEditorFormProps {
  /** The layer's latest version (0: none yet): the save's expected version. */
  version: number;
  /** The entries of that version, secrets masked. */
  entries: ConfigEntryView[];
  saving?: boolean;
  onSave: (request: SetConfigurationRequest) => void;
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
  const [drafts, setDrafts] = useState(() => entries.map(toDraftEntry));
  const [description, setDescription] = useState('');
  const [problems, setProblems] = useState<string[]>([]);

  const update = (id: string, patch: Partial<DraftEntry>) =>
    setDrafts(rows => rows.map(r => (r.id === id ? { ...r, ...patch } : r)));
  const remove = (id: string) =>
    setDrafts(rows => rows.filter(r => r.id !== id));

  const save = () => {
    const result = fromDraft(drafts);
    setProblems(result.problems);
    if (result.problems.length === 0) {
      onSave({
        entries: result.entries,
        expectedVersion: version,
        ...(description.trim() ? { description: description.trim() } : {}),
      });
    }
  };

  return (
    // Not a <form>: Enter in a field should not save a configuration.
    <div data-testid="config-editor">
      <div className={classes.table}>
        <Table size="small" aria-label="Configuration entries">
          <TableHead>
            <TableRow>
              <TableCell>Key</TableCell>
              <TableCell>Type</TableCell>
              <TableCell>Value</TableCell>
              <TableCell padding="checkbox">Required</TableCell>
              <TableCell padding="checkbox">Sensitive</TableCell>
              <TableCell>Description</TableCell>
              <TableCell />
            </TableRow>
          </TableHead>
          <TableBody>
            {drafts.map((draft, index) => (
              <EntryRowEditor
                key={draft.id}
                entry={draft}
                index={index}
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
      {problems.length > 0 && (
        <WarningPanel
          severity="error"
          title="Fix these entries before saving"
          message={problems.join('; ')}
          defaultExpanded
        />
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
          disabled={saving}
          onClick={save}
        >
          Save configuration
        </Button>
        <Button
          disabled={saving}
          onClick={() => {
            setDrafts(entries.map(toDraftEntry));
            setProblems([]);
          }}
        >
          Discard changes
        </Button>
      </div>
    </div>
  );
};
