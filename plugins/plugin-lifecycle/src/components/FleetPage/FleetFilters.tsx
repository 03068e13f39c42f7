import InputAdornment from '@material-ui/core/InputAdornment';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import { makeStyles } from '@material-ui/core/styles';
import SearchIcon from '@material-ui/icons/Search';
import { FleetFilter, FleetHealth, FleetState } from './fleetRows';

const useStyles = makeStyles(theme => ({
  root: {
    display: 'flex',
    flexWrap: 'wrap',
    gap: theme.spacing(2),
    marginBottom: theme.spacing(2),
  },
  select: { minWidth: 160 },
  search: { flex: '1 1 240px', maxWidth: 480 },
}));

const ANY = '';

/** Props of {@link FleetFilters}. */
export interface FleetFiltersProps {
  filter: FleetFilter;
  onChange: (filter: FleetFilter) => void;
  /** The states to offer (those present in the fleet). */
  states: FleetState[];
  /** The health verdicts to offer. */
  healths: FleetHealth[];
}

const stateLabel = (state: FleetState) =>
  state === 'not-installed' ? 'not installed' : state;
const healthLabel = (health: FleetHealth) =>
  health === 'none' ? 'not checked' : health;

/** The state and health filters and the search box of the fleet page. */
export const FleetFilters = ({
  filter,
  onChange,
  states,
  healths,
}: FleetFiltersProps) => {
  const classes = useStyles();
  return (
    <div className={classes.root} data-testid="fleet-filters">
      <TextField
        select
        className={classes.select}
        variant="outlined"
        size="small"
        id="fleet-filter-state"
        label="State"
        value={filter.state ?? ANY}
        onChange={e =>
          onChange({
            ...filter,
            state: (e.target.value as FleetState) || undefined,
          })
        }
      >
        <MenuItem value={ANY}>any</MenuItem>
        {states.map(state => (
          <MenuItem key={state} value={state}>
            {stateLabel(state)}
          </MenuItem>
        ))}
      </TextField>
      <TextField
        select
        className={classes.select}
        variant="outlined"
        size="small"
        id="fleet-filter-health"
        label="Health"
        value={filter.health ?? ANY}
        onChange={e =>
          onChange({
            ...filter,
            health: (e.target.value as FleetHealth) || undefined,
          })
        }
      >
        <MenuItem value={ANY}>any</MenuItem>
        {healths.map(health => (
          <MenuItem key={health} value={health}>
            {healthLabel(health)}
          </MenuItem>
        ))}
      </TextField>
      <TextField
        className={classes.search}
        variant="outlined"
        size="small"
        id="fleet-filter-search"
        label="Search"
        placeholder="plugin, entity, owner or version"
        value={filter.search ?? ''}
        onChange={e => onChange({ ...filter, search: e.target.value })}
        InputProps={{
          startAdornment: (
            <InputAdornment position="start">
              <SearchIcon fontSize="small" />
            </InputAdornment>
          ),
        }}
      />
    </div>
  );
};
