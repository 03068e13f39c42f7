import { createContext, ReactNode, useContext } from 'react';
import Checkbox from '@material-ui/core/Checkbox';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import FormHelperText from '@material-ui/core/FormHelperText';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';

/** The form's errors placed by field path (see `placeErrors`). */
export const FieldErrorsContext = createContext<Record<string, string[]>>({});

/** The error of one field, joined, or undefined. */
export function useFieldError(path: string): string | undefined {
  const messages = useContext(FieldErrorsContext)[path];
  return messages?.length ? messages.join('; ') : undefined;
}

/** An error shown under a group of fields (a list, a block). */
export const GroupError = ({ path }: { path: string }) => {
  const error = useFieldError(path);
  return error ? (
    <FormHelperText error role="alert" data-testid={`error-${path}`}>
      {error}
    </FormHelperText>
  ) : null;
};

/** Props of {@link TextInput}. */
export interface TextInputProps {
  /** The field's path in the request: where its errors come from. */
  path: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  helperText?: ReactNode;
  placeholder?: string;
  /** A numeric keyboard and a narrow field. */
  numeric?: boolean;
  width?: number;
}

/** A text field with its error (the client's or the server's) under it. */
export const TextInput = (props: TextInputProps) => {
  const error = useFieldError(props.path);
  return (
    <TextField
      id={`field-${props.path}`}
      label={props.label}
      value={props.value}
      onChange={e => props.onChange(e.target.value)}
      error={Boolean(error)}
      helperText={error ?? props.helperText}
      placeholder={props.placeholder}
      margin="dense"
      variant="outlined"
      style={{ width: props.width ?? (props.numeric ? 150 : 220) }}
      inputProps={{
        inputMode: props.numeric ? 'decimal' : undefined,
        'data-path': props.path,
      }}
      FormHelperTextProps={{ role: error ? 'alert' : undefined }}
    />
  );
};

/** Props of {@link SelectInput}. */
export interface SelectInputProps<T extends string> {
  path: string;
  label: string;
  value: T;
  options: Array<{ value: T; label: string }>;
  onChange: (value: T) => void;
  width?: number;
}

/** A select with its error under it. */
export function SelectInput<T extends string>(props: SelectInputProps<T>) {
  const error = useFieldError(props.path);
  return (
    <TextField
      select
      id={`field-${props.path}`}
      label={props.label}
      value={props.value}
      onChange={e => props.onChange(e.target.value as T)}
      error={Boolean(error)}
      helperText={error}
      margin="dense"
      variant="outlined"
      style={{ width: props.width ?? 220 }}
      SelectProps={{ inputProps: { 'aria-label': props.label } }}
    >
      {props.options.map(o => (
        <MenuItem key={o.value} value={o.value}>
          {o.label}
        </MenuItem>
      ))}
    </TextField>
  );
}

/** A checkbox with its label. */
export const CheckInput = (props: {
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
}) => (
  <FormControlLabel
    control={
      <Checkbox
        checked={props.checked}
        onChange={e => props.onChange(e.target.checked)}
        color="primary"
      />
    }
    label={props.label}
  />
);
