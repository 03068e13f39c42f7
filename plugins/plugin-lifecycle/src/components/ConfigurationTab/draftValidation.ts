import {
  ConfigurationEntry,
  configurationEntrySchema,
} from '@internal/plugin-lifecycle-common';
import { DraftEntry, fromDraft, keepsMaskedValue } from './draft';

/** What is wrong with one row of the editor, by field. */
export interface RowErrors {
  key?: string;
  value?: string;
  description?: string;
}

/** The errors of the rows that have any, by row id. */
export type DraftErrors = Record<string, RowErrors>;

const keySchema = configurationEntrySchema.shape.key;
const descriptionSchema = configurationEntrySchema.shape.description;

function keyError(key: string, counts: Map<string, number>) {
  if (!key) {
    return 'A key is needed';
  }
  const parsed = keySchema.safeParse(key);
  if (!parsed.success) {
    return `The key ${parsed.error.issues[0]?.message ?? 'is not valid'}`;
  }
  if ((counts.get(key) ?? 0) > 1) {
    return 'Another row has this key';
  }
  return undefined;
}

function valueError(draft: DraftEntry): string | undefined {
  if (keepsMaskedValue(draft)) {
    return undefined;
  }
  const text = draft.text.trim();
  switch (draft.type) {
    case 'boolean':
      return undefined;
    case 'number':
      // The backend takes only finite numbers, required or not.
      if (text === '') return 'A number is needed';
      return Number.isFinite(Number(text)) ? undefined : 'Not a number';
    case 'json':
      if (text === '') return 'A JSON value is needed (null for none)';
      try {
        JSON.parse(draft.text);
        return undefined;
      } catch (e) {
        return `Not valid JSON: ${(e as Error).message}`;
      }
    case 'secret':
      return draft.text === '' ? 'A secret needs a value' : undefined;
    default:
      return draft.required && draft.text === ''
        ? 'Required: give it a value'
        : undefined;
  }
}

/**
 * Checks every row as the backend would before anything is sent: the key
 * against the API's schema and unique among the rows, the value against its
 * type, the description's length. The plugin's own JSON Schema is the
 * backend's to check (its 400 is mapped onto the rows by
 * {@link serverRowErrors}).
 */
export function validateDrafts(drafts: DraftEntry[]): DraftErrors {
  const counts = new Map<string, number>();
  for (const draft of drafts) {
    const key = draft.key.trim();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const errors: DraftErrors = {};
  for (const draft of drafts) {
    const row: RowErrors = {
      key: keyError(draft.key.trim(), counts),
      value: valueError(draft),
      description: descriptionSchema.safeParse(draft.description.trim()).success
        ? undefined
        : 'At most 1000 characters',
    };
    if (row.key || row.value || row.description) {
      errors[draft.id] = row;
    }
  }
  return errors;
}

/** Whether any row has an error. */
export function hasErrors(errors: DraftErrors): boolean {
  return Object.keys(errors).length > 0;
}

/** The entries as JSON with sorted keys: order does not make a change. */
function canonical(entries: ConfigurationEntry[]): string {
  const sorted = [...entries].sort((a, b) => (a.key < b.key ? -1 : 1));
  return JSON.stringify(sorted, (_name, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : 1,
          ),
        )
      : v,
  );
}

/**
 * Whether the rows stand for the entries they were loaded from: saving them
 * would change nothing. Rows that do not parse are a change.
 */
export function isUnchanged(
  drafts: DraftEntry[],
  loaded: DraftEntry[],
): boolean {
  const now = fromDraft(drafts);
  const then = fromDraft(loaded);
  if (now.problems.length > 0) return false;
  return canonical(now.entries) === canonical(then.entries);
}

/**
 * The backend's 400 on a write ("Invalid configuration for 'p' (layer):
 * key: message; other.key: message") as errors of the rows with those keys.
 * What names no row's key (the document as a whole, a request shape) is left
 * in `rest`, for a message above the form.
 */
export function serverRowErrors(
  message: string,
  drafts: DraftEntry[],
): { errors: DraftErrors; rest?: string } {
  const list = message.replace(/^Invalid configuration[^:]*:\s*/, '');
  const keys = [...new Set(drafts.map(d => d.key.trim()).filter(Boolean))]
    // The longest first: "a.b" must not be taken for "a".
    .sort((a, b) => b.length - a.length);
  const errors: DraftErrors = {};
  const rest: string[] = [];
  // Keys hold no "; " (see the key schema), messages never start with a key.
  for (const part of splitProblems(list, keys)) {
    // A request the API's schema refused names the entry by its position.
    const position = /^entries\.(\d+)(?:\.(\w+))?: (.*)$/.exec(part);
    if (position && drafts[Number(position[1])]) {
      const id = drafts[Number(position[1])].id;
      const name = position[2];
      const field = name === 'key' || name === 'description' ? name : 'value';
      errors[id] = { ...errors[id], [field]: position[3] };
      continue;
    }
    const key = keys.find(k => part.startsWith(`${k}: `));
    const draft = key && drafts.find(d => d.key.trim() === key);
    if (!draft) {
      rest.push(part);
      continue;
    }
    const text = part.slice(key!.length + 2);
    const row = errors[draft.id] ?? {};
    const field = /^rotateAt|^the key/i.test(text) ? 'key' : 'value';
    row[field] = row[field] ? `${row[field]}; ${text}` : text;
    errors[draft.id] = row;
  }
  return { errors, rest: rest.length > 0 ? rest.join('; ') : undefined };
}

/** Splits a list of problems at each "; " that a known key follows. */
function splitProblems(list: string, keys: string[]): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = list.indexOf('; '); i >= 0; i = list.indexOf('; ', i + 2)) {
    const next = list.slice(i + 2);
    if (
      keys.some(k => next.startsWith(`${k}: `)) ||
      /^(\(\w+\)|entries\.\d+[.\w]*): /.test(next)
    ) {
      parts.push(list.slice(start, i));
      start = i + 2;
    }
  }
  parts.push(list.slice(start));
  return parts.filter(Boolean);
}
