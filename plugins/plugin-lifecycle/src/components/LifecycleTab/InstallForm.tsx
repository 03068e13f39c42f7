import { useState } from 'react';
import Button from '@material-ui/core/Button';
import TextField from '@material-ui/core/TextField';
import { makeStyles } from '@material-ui/core/styles';

const useStyles = makeStyles(theme => ({
  root: {
    display: 'inline-flex',
    alignItems: 'center',
    gap: theme.spacing(1),
  },
}));

/** Props of {@link InstallForm}. */
export interface InstallFormProps {
  disabled?: boolean;
  onInstall: (version: string) => void;
}

/** A version field and an Install button. */
export const InstallForm = ({ disabled, onInstall }: InstallFormProps) => {
  const classes = useStyles();
  const [version, setVersion] = useState('');
  const trimmed = version.trim();

  return (
    <form
      className={classes.root}
      onSubmit={event => {
        event.preventDefault();
        if (trimmed) {
          onInstall(trimmed);
        }
      }}
    >
      <TextField
        id="plugin-lifecycle-install-version"
        label="Version"
        placeholder="1.0.0"
        size="small"
        variant="outlined"
        value={version}
        disabled={disabled}
        onChange={event => setVersion(event.target.value)}
      />
      <Button
        type="submit"
        variant="contained"
        color="primary"
        disabled={disabled || !trimmed}
      >
        Install
      </Button>
    </form>
  );
};
