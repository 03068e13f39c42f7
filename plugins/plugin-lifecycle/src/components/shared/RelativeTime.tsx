import { DateTime } from 'luxon';

/** Props of {@link RelativeTime}. */
export interface RelativeTimeProps {
  /** ISO 8601; nothing is shown without one. */
  value?: string;
  /** Shown when there is no value. */
  placeholder?: string;
}

/**
 * A time as "3 minutes ago", with the absolute time (in the browser's zone)
 * on hover (the native tooltip: light enough for long tables) and as the element's `dateTime`.
 */
export function RelativeTime({ value, placeholder = '-' }: RelativeTimeProps) {
  if (!value) {
    return <>{placeholder}</>;
  }
  const time = DateTime.fromISO(value);
  if (!time.isValid) {
    return <>{value}</>;
  }
  const absolute = time.toLocaleString(DateTime.DATETIME_MED_WITH_SECONDS);
  return (
    <time dateTime={value} title={absolute}>
      {time.toRelative() ?? absolute}
    </time>
  );
}
