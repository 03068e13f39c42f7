import Button from '@material-ui/core/Button';
import FormHelperText from '@material-ui/core/FormHelperText';
import Switch from '@material-ui/core/Switch';
import TextField from '@material-ui/core/TextField';
import { makeStyles } from '@material-ui/core/styles';
import { DraftEntry, isSecretLike, keepsMaskedValue } from './draft';

const useStyles = makeStyles(theme => ({
  json: {
    fontFamily: 'monospace',
    fontSize: theme.typography.body2.fontSize,
  },
  hidden: {
    display: 'inline-flex',
    alignItems: 'center',
    gap: theme.spacing(1),
  },
}));

/** Props of {@link EntryValueInput}. */
export interface EntryValueInputProps {
  entry: DraftEntry;
  /** What is wrong with the value, shown under the field. */
  error?: string;
  disabled?: boolean;
  onChange: (patch: Partial<DraftEntry>) => void;
}

/**
 * The value field of a row, as suits its type: a switch for a boolean, a
 * textarea for JSON, a password field for a secret or sensitive value, a
 * number or text field otherwise. A value loaded masked shows empty and stays
 * as stored until the user types a new one.
 */
export const EntryValueInput = ({
  entry,
  error,
  disabled,
  onChange,
}: EntryValueInputProps) => {
  const classes = useStyles();
  const masked = keepsMaskedValue(entry);
  const label = { 'aria-label': 'Value' };

  if (entry.type === 'boolean') {
    if (masked) {
      return (
        <span className={classes.hidden}>
          ••••
          <Button
            size="small"
            disabled={disabled}
            onClick={() => onChange({ replaced: true })}
          >
            Replace hidden value
          </Button>
        </span>
      );
    }
    return (
      <>
        <Switch
          color="primary"
          checked={entry.checked}
          disabled={disabled}
          inputProps={label}
          onChange={event => onChange({ checked: event.target.checked })}
        />
        {error && <FormHelperText error>{error}</FormHelperText>}
      </>
    );
  }

  // Emptying the field of a value loaded masked keeps the stored value.
  const setText = (text: string) =>
    onChange(entry.maskedKey ? { text, replaced: text !== '' } : { text });

  if (entry.type === 'json' && !masked) {
    return (
      <TextField
        multiline
        fullWidth
        minRows={1}
        maxRows={10}
        size="small"
        variant="outlined"
        value={entry.text}
        disabled={disabled}
        error={Boolean(error)}
        helperText={error}
        placeholder='{"example": true}'
        inputProps={{ ...label, className: classes.json }}
        onChange={event => setText(event.target.value)}
      />
    );
  }

  let inputType = 'text';
  if (masked || isSecretLike(entry)) {
    inputType = 'password';
  } else if (entry.type === 'number') {
    inputType = 'number';
  }
  return (
    <TextField
      fullWidth
      size="small"
      variant="outlined"
      type={inputType}
      value={entry.text}
      disabled={disabled}
      placeholder={masked ? '•••••••• (unchanged)' : undefined}
      error={Boolean(error)}
      helperText={
        error ?? (masked ? 'Stored value kept; type to replace it' : undefined)
      }
      inputProps={{
        ...label,
        // Keeps browsers from filling in a saved login password.
        autoComplete: inputType === 'password' ? 'new-password' : 'off',
      }}
      onChange={event => setText(event.target.value)}
    />
  );
};
