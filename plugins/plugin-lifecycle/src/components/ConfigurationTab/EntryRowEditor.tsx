import Button from '@material-ui/core/Button';
import Checkbox from '@material-ui/core/Checkbox';
import NativeSelect from '@material-ui/core/NativeSelect';
import TableCell from '@material-ui/core/TableCell';
import TableRow from '@material-ui/core/TableRow';
import TextField from '@material-ui/core/TextField';
import { CONFIG_ENTRY_TYPES, ConfigEntryType, DraftEntry } from './draft';
import { EntryValueInput } from './EntryValueInput';

/** Props of {@link EntryRowEditor}. */
export interface EntryRowEditorProps {
  entry: DraftEntry;
  /** The position of the row, for its test id. */
  index: number;
  disabled?: boolean;
  onChange: (patch: Partial<DraftEntry>) => void;
  onRemove: () => void;
}

/** One entry of the layer editor, as a table row of fields. */
export const EntryRowEditor = ({
  entry,
  index,
  disabled,
  onChange,
  onRemove,
}: EntryRowEditorProps) => (
  <TableRow data-testid={`config-entry-row-${index}`}>
    <TableCell>
      <TextField
        size="small"
        variant="outlined"
        value={entry.key}
        disabled={disabled}
        error={!entry.key.trim()}
        placeholder="database.url"
        inputProps={{ 'aria-label': 'Key', autoComplete: 'off' }}
        onChange={event => onChange({ key: event.target.value })}
      />
    </TableCell>
    <TableCell>
      <NativeSelect
        value={entry.type}
        disabled={disabled}
        inputProps={{ 'aria-label': 'Type' }}
        onChange={event =>
          onChange({ type: event.target.value as ConfigEntryType })
        }
      >
        {CONFIG_ENTRY_TYPES.map(type => (
          <option key={type} value={type}>
            {type}
          </option>
        ))}
      </NativeSelect>
    </TableCell>
    <TableCell style={{ minWidth: 200 }}>
      <EntryValueInput entry={entry} disabled={disabled} onChange={onChange} />
    </TableCell>
    <TableCell padding="checkbox">
      <Checkbox
        color="primary"
        checked={entry.required}
        disabled={disabled}
        inputProps={{ 'aria-label': 'Required' }}
        onChange={event => onChange({ required: event.target.checked })}
      />
    </TableCell>
    <TableCell padding="checkbox">
      <Checkbox
        color="primary"
        checked={entry.sensitive}
        disabled={disabled}
        inputProps={{ 'aria-label': 'Sensitive' }}
        onChange={event => onChange({ sensitive: event.target.checked })}
      />
    </TableCell>
    <TableCell>
      <TextField
        size="small"
        variant="outlined"
        value={entry.description}
        disabled={disabled}
        inputProps={{ 'aria-label': 'Entry description', autoComplete: 'off' }}
        onChange={event => onChange({ description: event.target.value })}
      />
    </TableCell>
    <TableCell>
      <Button
        size="small"
        color="secondary"
        disabled={disabled}
        onClick={onRemove}
      >
        Remove
      </Button>
    </TableCell>
  </TableRow>
);
