import Button from '@material-ui/core/Button';
import Checkbox from '@material-ui/core/Checkbox';
import NativeSelect from '@material-ui/core/NativeSelect';
import TableCell from '@material-ui/core/TableCell';
import TableRow from '@material-ui/core/TableRow';
import TextField from '@material-ui/core/TextField';
import { makeStyles } from '@material-ui/core/styles';
import { CONFIG_ENTRY_TYPES, ConfigEntryType, DraftEntry } from './draft';
import { RowErrors } from './draftValidation';
import { EntryValueInput } from './EntryValueInput';

// Narrow windows scroll the table sideways rather than squeeze a key or a
// value into a column a few characters wide.
const useStyles = makeStyles({
  key: { minWidth: 180, verticalAlign: 'top' },
  value: { minWidth: 220, verticalAlign: 'top' },
  description: { minWidth: 180, verticalAlign: 'top' },
  type: { minWidth: 110, verticalAlign: 'top' },
  top: { verticalAlign: 'top' },
  action: { verticalAlign: 'top', whiteSpace: 'nowrap' },
});

/** Props of {@link EntryRowEditor}. */
export interface EntryRowEditorProps {
  entry: DraftEntry;
  /** The position of the row, for its test id. */
  index: number;
  /** What is wrong with the row's fields, shown under each. */
  errors?: RowErrors;
  disabled?: boolean;
  onChange: (patch: Partial<DraftEntry>) => void;
  onRemove: () => void;
}

/** One entry of the layer editor, as a table row of fields. */
export const EntryRowEditor = ({
  entry,
  index,
  errors = {},
  disabled,
  onChange,
  onRemove,
}: EntryRowEditorProps) => {
  const classes = useStyles();
  return (
    <TableRow data-testid={`config-entry-row-${index}`}>
      <TableCell className={classes.key}>
        <TextField
          size="small"
          variant="outlined"
          fullWidth
          value={entry.key}
          disabled={disabled}
          error={Boolean(errors.key)}
          helperText={errors.key}
          placeholder="database.url"
          inputProps={{ 'aria-label': 'Key', autoComplete: 'off' }}
          onChange={event => onChange({ key: event.target.value })}
        />
      </TableCell>
      <TableCell className={classes.type}>
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
      <TableCell className={classes.value}>
        <EntryValueInput
          entry={entry}
          error={errors.value}
          disabled={disabled}
          onChange={onChange}
        />
      </TableCell>
      <TableCell padding="checkbox" className={classes.top}>
        <Checkbox
          color="primary"
          checked={entry.required}
          disabled={disabled}
          inputProps={{ 'aria-label': 'Required' }}
          onChange={event => onChange({ required: event.target.checked })}
        />
      </TableCell>
      <TableCell padding="checkbox" className={classes.top}>
        <Checkbox
          color="primary"
          checked={entry.sensitive}
          disabled={disabled}
          inputProps={{ 'aria-label': 'Sensitive' }}
          onChange={event => onChange({ sensitive: event.target.checked })}
        />
      </TableCell>
      <TableCell className={classes.description}>
        <TextField
          size="small"
          variant="outlined"
          fullWidth
          value={entry.description}
          error={Boolean(errors.description)}
          helperText={errors.description}
          disabled={disabled}
          inputProps={{
            'aria-label': 'Entry description',
            autoComplete: 'off',
          }}
          onChange={event => onChange({ description: event.target.value })}
        />
      </TableCell>
      <TableCell className={classes.action}>
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
};
