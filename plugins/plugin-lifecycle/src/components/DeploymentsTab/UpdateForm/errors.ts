import { FieldErrors } from './draft';

/**
 * The field errors of a 400's message (`Invalid body: version: must be
 * ...; deploymentConfig.canary.steps: ...`), by path; what names no field
 * of the request is returned as `rest`.
 */
export function parseServerErrors(message: string): {
  fields: FieldErrors;
  rest: string[];
} {
  const fields: FieldErrors = {};
  const rest: string[] = [];
  const text = message.replace(/^Invalid \w+: /, '');
  for (const part of text.split('; ')) {
    const m =
      /^((?:version|deploymentStrategy|deploymentConfig)(?:\.[\w-]+)*): (.+)$/s.exec(
        part,
      );
    if (m) {
      fields[m[1]] ??= m[2];
    } else if (part.trim()) {
      rest.push(part);
    }
  }
  return { fields, rest };
}

/**
 * Which of the shown fields an error belongs to: the longest shown path
 * the error's path starts with (an error of a whole step shows at that
 * step's row); errors of no shown field come back under `''`.
 */
export function placeErrors(
  errors: FieldErrors,
  shown: string[],
): Record<string, string[]> {
  const placed: Record<string, string[]> = {};
  const byLength = [...shown].sort((a, b) => b.length - a.length);
  for (const [path, message] of Object.entries(errors)) {
    const at = byLength.find(p => path === p || path.startsWith(`${p}.`)) ?? '';
    const text =
      at === path || at === ''
        ? message
        : `${path.slice(at.length + 1)}: ${message}`;
    (placed[at] ??= []).push(at === '' && path ? `${path}: ${message}` : text);
  }
  return placed;
}
