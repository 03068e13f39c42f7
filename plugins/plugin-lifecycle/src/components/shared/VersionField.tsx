import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import Autocomplete from '@material-ui/lab/Autocomplete';
import { AvailableVersions } from '@internal/plugin-lifecycle-common';

/** Props of {@link VersionField}. */
export interface VersionFieldProps {
  /** The id of the input (unique on the page); its label is tied to it. */
  id: string;
  /** The field's label, e.g. "Version" or "New version". */
  label: string;
  value: string;
  onChange: (value: string) => void;
  /**
   * What the plugin's artifact source offers (from `listVersions`); without
   * it, or with no items, the field is free text.
   */
  versions?: AvailableVersions;
  /** The versions are being loaded. */
  loading?: boolean;
  placeholder?: string;
  disabled?: boolean;
  /** Shown under the field, e.g. why no versions could be listed. */
  helperText?: string;
}

type Item = AvailableVersions['items'][number];

/** "current" or "installed", for the version's line in the list. */
function marker(item: Item): string | undefined {
  if (item.current) return 'current';
  if (item.installed) return 'installed';
  return undefined;
}

/**
 * A version input that offers the versions the artifact source has (newest
 * first, the current and installed ones marked) and still takes any text:
 * a command artifact lists nothing, and a registry may know a version the
 * list has not caught up with.
 */
export function VersionField(props: VersionFieldProps) {
  const {
    id,
    label,
    value,
    onChange,
    versions,
    loading,
    placeholder,
    disabled,
    helperText,
  } = props;
  const items = versions?.items ?? [];
  const byVersion = new Map(items.map(i => [i.version, i]));
  return (
    <Autocomplete<string, false, false, true>
      id={id}
      freeSolo
      options={items.map(i => i.version)}
      inputValue={value}
      onInputChange={(_event, text) => onChange(text)}
      // A pick from the list and typed text both end in the input value.
      onChange={(_event, picked) => onChange(picked ?? '')}
      disabled={disabled}
      loading={loading}
      style={{ minWidth: 200 }}
      renderOption={version => {
        const item = byVersion.get(version);
        const note = item && marker(item);
        return (
          <span data-testid="version-option">
            {version}
            {note && (
              <Typography
                component="span"
                variant="caption"
                color="textSecondary"
              >
                {` (${note})`}
              </Typography>
            )}
          </span>
        );
      }}
      renderInput={params => (
        <TextField
          {...params}
          label={label}
          placeholder={placeholder}
          size="small"
          variant="outlined"
          helperText={helperText}
        />
      )}
    />
  );
}
