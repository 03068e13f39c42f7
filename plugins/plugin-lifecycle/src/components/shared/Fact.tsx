import { ReactNode } from 'react';
import Typography from '@material-ui/core/Typography';

/** Props of {@link Fact}. */
export interface FactProps {
  label: string;
  /** The test id of the value. */
  testId?: string;
  children: ReactNode;
}

/**
 * A label and its value, as two cells of a summary card's two-column grid
 * (the card's grid lays them out: `grid-template-columns: max-content auto`).
 */
export const Fact = ({ label, testId, children }: FactProps) => (
  <>
    <Typography variant="body2" color="textSecondary">
      {label}
    </Typography>
    <Typography variant="body2" component="div" data-testid={testId}>
      {children}
    </Typography>
  </>
);
