import { ReactNode, useState } from 'react';
import Button from '@material-ui/core/Button';
import TextField from '@material-ui/core/TextField';
import { makeStyles } from '@material-ui/core/styles';
import { AvailableVersions } from '@internal/plugin-lifecycle-common';
import { VersionField } from '../shared/VersionField';

const useStyles = makeStyles(theme => ({
  root: {
    display: 'inline-flex',
    flexWrap: 'wrap',
    alignItems: 'flex-start',
    gap: theme.spacing(1),
  },
  button: {
    // Level with the outlined field (small: 40 px high).
    minHeight: 40,
  },
}));

/** What the install and update forms offer in their version field. */
export interface VersionChoices {
  versions?: AvailableVersions;
  loading?: boolean;
  /** Why no versions are offered, under the field. */
  hint?: string;
}

/** Props of {@link VersionForm}. */
export interface VersionFormProps extends VersionChoices {
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
  /** More fields, between the version and the button. */
  children?: ReactNode;
  /** False while the other fields hold something the form cannot send. */
  canSubmit?: boolean;
}

/** A version field (offering the available versions) and a button that submits it. */
export const VersionForm = ({
  id,
  label,
  buttonText,
  placeholder,
  disabled,
  onSubmit,
  versions,
  loading,
  hint,
  children,
  canSubmit = true,
}: VersionFormProps) => {
  const classes = useStyles();
  const [version, setVersion] = useState('');
  const trimmed = version.trim();

  return (
    <form
      className={classes.root}
      onSubmit={event => {
        event.preventDefault();
        if (trimmed && canSubmit) {
          onSubmit(trimmed);
        }
      }}
    >
      <VersionField
        id={id}
        label={label}
        placeholder={placeholder}
        value={version}
        onChange={setVersion}
        versions={versions}
        loading={loading}
        disabled={disabled}
        helperText={hint}
      />
      {children}
      <Button
        type="submit"
        variant="contained"
        color="primary"
        className={classes.button}
        disabled={disabled || !trimmed || !canSubmit}
      >
        {buttonText}
      </Button>
    </form>
  );
};

/** Props of {@link InstallForm}. */
export interface InstallFormProps extends VersionChoices {
  disabled?: boolean;
  onInstall: (version: string, options: { replicas?: number }) => void;
}

/** The replica counts the install form accepts (as the API does). */
const MAX_REPLICAS = 64;

/**
 * A version field, a replica count (the instances the plugin runs; set at
 * install, the API has no way to change it later) and an Install button.
 */
export const InstallForm = ({
  disabled,
  onInstall,
  ...choices
}: InstallFormProps) => {
  const [replicas, setReplicas] = useState('');
  const count = Number(replicas);
  const valid =
    replicas === '' ||
    (Number.isInteger(count) && count >= 1 && count <= MAX_REPLICAS);
  return (
    <VersionForm
      id="plugin-lifecycle-install-version"
      label="Version"
      buttonText="Install"
      placeholder={choices.versions?.items[0]?.version ?? '1.0.0'}
      disabled={disabled}
      canSubmit={valid}
      onSubmit={version =>
        onInstall(version, replicas === '' ? {} : { replicas: count })
      }
      {...choices}
    >
      <TextField
        id="plugin-lifecycle-install-replicas"
        label="Replicas"
        type="number"
        placeholder="1"
        size="small"
        variant="outlined"
        value={replicas}
        disabled={disabled}
        error={!valid}
        helperText={valid ? undefined : `1 to ${MAX_REPLICAS}`}
        inputProps={{ min: 1, max: MAX_REPLICAS }}
        style={{ width: 110 }}
        onChange={event => setReplicas(event.target.value)}
      />
    </VersionForm>
  );
};

/** Props of {@link UpdateForm}. */
export interface UpdateFormProps extends VersionChoices {
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
  ...choices
}: UpdateFormProps) => (
  <VersionForm
    id="plugin-lifecycle-update-version"
    label="New version"
    buttonText="Update"
    placeholder={currentVersion}
    disabled={disabled}
    onSubmit={onUpdate}
    {...choices}
  />
);
