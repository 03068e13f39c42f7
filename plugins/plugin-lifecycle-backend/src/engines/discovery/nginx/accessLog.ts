/**
 * Parses the native data plane's access log (see `ACCESS_LOG_FORMAT`): one
 * line per request, with every upstream attempt nginx made for it. Pure.
 */

/** One try on one upstream server. */
export interface LoggedAttempt {
  address: string;
  /**
   * responded: the upstream's headers came; failed: the try failed (refused,
   * broken, timed out); aborted: the client went away before an answer,
   * which says nothing about the instance (nginx's 499).
   */
  outcome: 'responded' | 'failed' | 'aborted';
  /** Status the upstream answered, or nginx's 502/504 for a failed try. */
  status: number | undefined;
  /** Seconds to the response headers converted to ms; undefined when none came (the try failed). */
  headerMs: number | undefined;
}

export interface LoggedRequest {
  /** When nginx logged it (the request ended), ms since the epoch. */
  at: number;
  pool: number;
  attempts: LoggedAttempt[];
  /** The status the client got. */
  status: number;
  method: string;
}

// nginx separates tries with ", " and internal redirects (error_page) with " : ".
/** nginx's status for a request whose client closed the connection first. */
const CLIENT_CLOSED = 499;
const SEPARATOR = /, | : /;

function listOf(field: string): string[] {
  return field === '' || field === '-' ? [] : field.split(SEPARATOR);
}

/** One log line; undefined for a line that is not ours or is cut off. */
export function parseAccessLogLine(line: string): LoggedRequest | undefined {
  const fields = line.split('|');
  if (fields.length !== 7) return undefined;
  const [msec, poolField, addresses, statuses, headerTimes, status, method] =
    fields;
  const at = Math.round(Number(msec) * 1000);
  if (msec === '' || !Number.isFinite(at)) return undefined;
  const pool = Number(poolField);
  if (poolField === '' || !Number.isInteger(pool) || pool < 0) return undefined;
  const finalStatus = Number(status);
  if (!Number.isInteger(finalStatus)) return undefined;
  const addressList = listOf(addresses);
  const statusList = listOf(statuses);
  const timeList = listOf(headerTimes);
  const attempts: LoggedAttempt[] = [];
  for (let i = 0; i < addressList.length; i++) {
    const address = addressList[i];
    // An internal redirect logs the upstream group's name, not an address.
    if (!address.includes(':')) continue;
    const code = Number(statusList[i]);
    const seconds = Number(timeList[i]);
    const attemptStatus = Number.isInteger(code) && code > 0 ? code : undefined;
    const headerMs =
      timeList[i] !== undefined &&
      timeList[i] !== '-' &&
      Number.isFinite(seconds)
        ? seconds * 1000
        : undefined;
    let outcome: LoggedAttempt['outcome'] = 'failed';
    if (attemptStatus !== undefined && headerMs !== undefined) {
      outcome = 'responded';
    } else if (attemptStatus === undefined && finalStatus === CLIENT_CLOSED) {
      outcome = 'aborted';
    }
    attempts.push({ address, outcome, status: attemptStatus, headerMs });
  }
  return { at, pool, attempts, status: finalStatus, method };
}

/**
 * Splits appended log text into whole lines, keeping an unfinished last
 * line for the next chunk.
 */
export class LineSplitter {
  #rest = '';

  push(chunk: string): string[] {
    const text = this.#rest + chunk;
    const lines = text.split('\n');
    this.#rest = lines.pop() ?? '';
    return lines.filter(l => l.length > 0);
  }
}
