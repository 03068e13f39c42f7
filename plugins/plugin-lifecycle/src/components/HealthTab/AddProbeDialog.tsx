import { ChangeEvent, useState } from 'react';
import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogContentText from '@material-ui/core/DialogContentText';
import DialogTitle from '@material-ui/core/DialogTitle';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { useApi } from '@backstage/frontend-plugin-api';
import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { describeError } from '../shared/describeError';

const useStyles = makeStyles(theme => ({
  fields: {
    display: 'grid',
    gridTemplateColumns: 'repeat(auto-fill, minmax(200px, 1fr))',
    gap: theme.spacing(2),
    marginTop: theme.spacing(1),
  },
}));

type ProbeType = ProbeDefinition['type'];
type ProbeMethod = 'http' | 'tcp' | 'grpc';

/** What the form holds, as typed. */
interface ProbeForm {
  type: ProbeType;
  method: ProbeMethod;
  path: string;
  service: string;
  port: string;
  periodSeconds: string;
}

const INITIAL: ProbeForm = {
  type: 'readiness',
  method: 'http',
  path: '/health',
  service: '',
  port: '',
  periodSeconds: '10',
};

/** A name no probe of the plugin has yet: the type, else type-method, else numbered. */
export function probeName(
  existing: ProbeDefinition[],
  type: ProbeType,
  method: string,
): string {
  const taken = new Set(existing.map(p => p.name));
  for (const name of [type, `${type}-${method}`]) {
    if (!taken.has(name)) return name;
  }
  let n = 2;
  while (taken.has(`${type}-${method}-${n}`)) n++;
  return `${type}-${method}-${n}`;
}

/**
 * The probe the form describes, or what is wrong with it (by field).
 * The backend validates it again.
 */
export function probeFromForm(
  form: ProbeForm,
  existing: ProbeDefinition[],
): {
  probe?: ProbeDefinition;
  errors: Partial<Record<keyof ProbeForm, string>>;
} {
  const errors: Partial<Record<keyof ProbeForm, string>> = {};
  const port = form.port.trim() ? Number(form.port) : undefined;
  if (
    port !== undefined &&
    !(Number.isInteger(port) && port >= 1 && port <= 65535)
  ) {
    errors.port = 'a port from 1 to 65535, or empty for the instance port';
  }
  const period = Number(form.periodSeconds);
  if (!(period >= 1 && period <= 86_400)) {
    errors.periodSeconds = 'seconds between checks, 1 to 86400';
  }
  if (form.method === 'http' && !form.path.startsWith('/')) {
    errors.path = 'a path starting with "/", such as /health';
  }
  if (Object.keys(errors).length > 0) return { errors };
  const at = port !== undefined ? { port } : {};
  const service = form.service.trim();
  const settings = {
    http: { http: { path: form.path, ...at } },
    grpc: { grpc: { ...(service ? { service } : {}), ...at } },
    tcp: { tcp: at },
  }[form.method];
  return {
    errors,
    probe: {
      name: probeName(existing, form.type, form.method),
      type: form.type,
      method: form.method,
      ...settings,
      periodSeconds: period,
    },
  };
}

/** Props of {@link AddProbeDialog}. */
export interface AddProbeDialogProps {
  pluginId: string;
  /** The plugin's probes now: the new one is added to them. */
  probes: ProbeDefinition[];
  open: boolean;
  onClose: () => void;
  /** The probes were saved: reload. */
  onSaved: () => void;
}

/**
 * Adds a probe to a plugin (`PUT /plugins/{id}/probes` with its probes and
 * the new one): an HTTP path, a TCP connect or the gRPC health protocol,
 * checked every few seconds on each instance.
 */
export const AddProbeDialog = ({
  pluginId,
  probes,
  open,
  onClose,
  onSaved,
}: AddProbeDialogProps) => {
  const classes = useStyles();
  const api = useApi(pluginLifecycleApiRef);
  const [form, setForm] = useState<ProbeForm>(INITIAL);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string>();
  const { errors } = probeFromForm(form, probes);
  const set =
    (key: keyof ProbeForm) => (event: ChangeEvent<{ value: unknown }>) =>
      setForm(f => ({ ...f, [key]: String(event.target.value) }));

  const save = async () => {
    const { probe } = probeFromForm(form, probes);
    if (!probe) return;
    setSaving(true);
    setError(undefined);
    try {
      await api.setPluginProbes(pluginId, [...probes, probe]);
      setForm(INITIAL);
      onSaved();
      onClose();
    } catch (e) {
      setError(describeError(e as Error));
    } finally {
      setSaving(false);
    }
  };

  return (
    <Dialog
      open={open}
      onClose={onClose}
      aria-labelledby="plugin-lifecycle-add-probe-title"
      maxWidth="sm"
      fullWidth
    >
      <DialogTitle id="plugin-lifecycle-add-probe-title">
        Add a probe to {pluginId}
      </DialogTitle>
      <DialogContent>
        <DialogContentText>
          Every instance is checked with it from now on: a readiness probe takes
          a failing instance out of traffic, a liveness probe restarts it, a
          startup probe holds the others until it passes.
        </DialogContentText>
        <div className={classes.fields}>
          <TextField
            select
            label="Type"
            value={form.type}
            onChange={set('type')}
            SelectProps={{ native: true }}
            id="add-probe-type"
          >
            <option value="readiness">readiness</option>
            <option value="liveness">liveness</option>
            <option value="startup">startup</option>
          </TextField>
          <TextField
            select
            label="Check"
            value={form.method}
            onChange={set('method')}
            SelectProps={{ native: true }}
            id="add-probe-method"
          >
            <option value="http">HTTP GET</option>
            <option value="tcp">TCP connect</option>
            <option value="grpc">gRPC health</option>
          </TextField>
          {form.method === 'http' && (
            <TextField
              id="add-probe-path"
              label="Path"
              value={form.path}
              onChange={set('path')}
              error={!!errors.path}
              helperText={errors.path}
            />
          )}
          {form.method === 'grpc' && (
            <TextField
              id="add-probe-service"
              label="Service (optional)"
              value={form.service}
              onChange={set('service')}
              helperText="empty: the server as a whole"
            />
          )}
          <TextField
            id="add-probe-port"
            label="Port (optional)"
            value={form.port}
            onChange={set('port')}
            error={!!errors.port}
            helperText={errors.port ?? "empty: the instance's port"}
            inputProps={{ inputMode: 'numeric' }}
          />
          <TextField
            id="add-probe-period"
            label="Every (seconds)"
            value={form.periodSeconds}
            onChange={set('periodSeconds')}
            error={!!errors.periodSeconds}
            helperText={errors.periodSeconds}
            inputProps={{ inputMode: 'numeric' }}
          />
        </div>
        {error && (
          <Typography color="error" variant="body2" role="alert">
            {error}
          </Typography>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button
          variant="contained"
          color="primary"
          disabled={saving || Object.keys(errors).length > 0}
          onClick={save}
        >
          Add probe
        </Button>
      </DialogActions>
    </Dialog>
  );
};
