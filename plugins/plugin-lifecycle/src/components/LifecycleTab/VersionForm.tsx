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

/** Props of {@link VersionForm}. */
export interface VersionFormProps {
  /** The id of the version field (unique on the page). */
  id: string;
  /** The label of the version field, e.g. "Version". */
  label: string;
  /** The text of the submit button, e.g. "Install". */
  buttonText: string;
  /** A hint in the empty field, e.g. the current version. */
  placeholder?: string;
  disabled?: boolean;
  /** Called with the trimmed version when the form is submitted. */
  onSubmit: (version: string) => void;
}

/** A version field and a button that submits it (install, update). */
export const VersionForm = ({
  id,
  label,
  buttonText,
  placeholder,
  disabled,
  onSubmit,
}: VersionFormProps) => {
  const classes = useStyles();
  const [version, setVersion] = useState('');
  const trimmed = version.trim();

  return (
    <form
      className={classes.root}
      onSubmit={event => {
        event.preventDefault();
        if (trimmed) {
          onSubmit(trimmed);
        }
      }}
    >
      <TextField
        id={id}
        label={label}
        placeholder={placeholder}
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
        {buttonText}
      </Button>
    </form>
  );
};

/** Props of {@link InstallForm}. */
export interface InstallFormProps {
  disabled?: boolean;
  onInstall: (version: string) => void;
}

/** A version field and an Install button. */
export const InstallForm = ({ disabled, onInstall }: InstallFormProps) => (
  <VersionForm
    id="plugin-lifecycle-install-version"
    label="Version"
    buttonText="Install"
    placeholder="1.0.0"
    disabled={disabled}
    onSubmit={onInstall}
  />
);

/** Props of {@link UpdateForm}. */
export interface UpdateFormProps {
  /** The version the plugin is at, shown as the field's placeholder. */
  currentVersion?: string;
  disabled?: boolean;
  onUpdate: (version: string) => void;
}

/** A "New version" field and an Update button. */
export const UpdateForm = ({
  currentVersion,
  disabled,
  onUpdate,
}: UpdateFormProps) => (
  <VersionForm
    id="plugin-lifecycle-update-version"
    label="New version"
    buttonText="Update"
    placeholder={currentVersion}
    disabled={disabled}
    onSubmit={onUpdate}
  />
);
