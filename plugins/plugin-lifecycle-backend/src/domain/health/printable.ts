/** The longest probe message kept (and so logged, stored or shown). */
export const MAX_PROBE_MESSAGE_LENGTH = 600;

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators and
// bidirectional overrides that can rewrite what a log line appears to say.
const UNSAFE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = {
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * A probe's message as it may go into a log line, a stored result or an
 * answer: control characters escaped (`\n`, `\u001b`...), so a command's or
 * a service's output cannot forge log lines or colour a terminal, and at
 * most `max` characters long (the end cut, marked with `…`).
 */
export function printableMessage(
  text: string,
  max: number = MAX_PROBE_MESSAGE_LENGTH,
): string {
  const escaped = text.replace(
    UNSAFE,
    c => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return escaped.length <= max ? escaped : `${escaped.slice(0, max - 1)}…`;
}
