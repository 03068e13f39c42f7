import FormControl from '@material-ui/core/FormControl';
import InputLabel from '@material-ui/core/InputLabel';
import NativeSelect from '@material-ui/core/NativeSelect';
import { makeStyles } from '@material-ui/core/styles';

const useStyles = makeStyles({
  root: {
    minWidth: 180,
  },
});

/** Props of {@link LabelledSelect}. */
export interface LabelledSelectProps {
  /** The id of the select (unique on the page). */
  id: string;
  label: string;
  value: string;
  options: ReadonlyArray<{ value: string; label: string }>;
  onChange: (value: string) => void;
}

/**
 * A native select with a label: easy to use with a keyboard, a screen reader
 * or a browser test (`getByLabel(...).selectOption(...)`).
 */
export const LabelledSelect = ({
  id,
  label,
  value,
  options,
  onChange,
}: LabelledSelectProps) => {
  const classes = useStyles();
  return (
    <FormControl className={classes.root}>
      <InputLabel htmlFor={id}>{label}</InputLabel>
      <NativeSelect
        id={id}
        value={value}
        onChange={event => onChange(event.target.value)}
      >
        {options.map(option => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </NativeSelect>
    </FormControl>
  );
};
