/** Formats an ISO timestamp for display; empty for a missing value. */
export function formatTime(iso?: string): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
