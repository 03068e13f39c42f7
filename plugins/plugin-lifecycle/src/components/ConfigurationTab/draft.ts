import {
  CONFIG_SECRET_MASK,
  ConfigEntryView,
  ConfigurationEntry,
} from '@internal/plugin-lifecycle-common';

/** The type of a configuration entry. */
export type ConfigEntryType = ConfigurationEntry['type'];

/** The entry types, in the order the type select lists them. */
export const CONFIG_ENTRY_TYPES: readonly ConfigEntryType[] = [
  'string',
  'number',
  'boolean',
  'json',
  'secret',
];

/**
 * One row of the layer editor: an entry as the user is editing it, with its
 * value as typed rather than parsed.
 */
export interface DraftEntry {
  /** A stable identity for the row (its key may be edited). */
  id: string;
  key: string;
  type: ConfigEntryType;
  /** The value as typed: JSON text for `json`, digits for `number`. */
  text: string;
  /** The value of a `boolean` entry. */
  checked: boolean;
  required: boolean;
  sensitive: boolean;
  description: string;
  rotateAt?: string;
  /** Set when the value was loaded masked: the key it is stored under. */
  maskedKey?: string;
  /** Whether the user gave a new value for one loaded masked. */
  replaced?: boolean;
}

let lastId = 0;

function newId(): string {
  lastId += 1;
  return `entry-${lastId}`;
}

/** Whether the API masks an entry's value: secrets and sensitive entries. */
export function isSecretLike(entry: {
  type: ConfigEntryType;
  sensitive?: boolean;
}): boolean {
  return entry.type === 'secret' || entry.sensitive === true;
}

/**
 * Whether a row still stands for a value the user never saw, so that saving
 * sends the mask and the backend keeps the stored value. Only while the row
 * keeps its key and stays secret: the backend looks the value up by key, and
 * would store the mask itself as the value of a plain entry.
 */
export function keepsMaskedValue(entry: DraftEntry): boolean {
  return (
    entry.maskedKey !== undefined &&
    !entry.replaced &&
    entry.maskedKey === entry.key.trim() &&
    isSecretLike(entry)
  );
}

function valueToText(type: ConfigEntryType, value: unknown): string {
  if (type === 'json') {
    return value === undefined ? '' : JSON.stringify(value, null, 2);
  }
  if (value === undefined || value === null) {
    return '';
  }
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** A row for an entry as the API shows it. */
export function toDraftEntry(entry: ConfigEntryView): DraftEntry {
  const masked = entry.masked === true;
  return {
    id: newId(),
    key: entry.key,
    type: entry.type,
    text: masked ? '' : valueToText(entry.type, entry.value),
    checked: !masked && entry.value === true,
    required: entry.required === true,
    sensitive: entry.sensitive === true,
    description: entry.description ?? '',
    rotateAt: entry.rotateAt,
    maskedKey: masked ? entry.key : undefined,
  };
}

/** A new, empty row. */
export function emptyDraftEntry(): DraftEntry {
  return {
    id: newId(),
    key: '',
    type: 'string',
    text: '',
    checked: false,
    required: false,
    sensitive: false,
    description: '',
  };
}

/** The entries of a layer as a request sends them, or what stops that. */
export interface DraftResult {
  entries: ConfigurationEntry[];
  /** Rows that cannot be sent (an empty key, a value that does not parse). */
  problems: string[];
}

function parseValue(
  entry: DraftEntry,
): { value: unknown } | { problem: string } {
  if (keepsMaskedValue(entry)) {
    return { value: CONFIG_SECRET_MASK };
  }
  switch (entry.type) {
    case 'boolean':
      return { value: entry.checked };
    case 'number': {
      const text = entry.text.trim();
      if (text === '') {
        // No value: the backend says whether the entry needs one.
        return { value: null };
      }
      const value = Number(text);
      return Number.isFinite(value)
        ? { value }
        : { problem: 'is not a number' };
    }
    case 'json':
      try {
        return { value: JSON.parse(entry.text) };
      } catch (e) {
        return { problem: `is not valid JSON (${(e as Error).message})` };
      }
    default:
      return { value: entry.text };
  }
}

/**
 * The entries the rows stand for. Values are only parsed here; whether they
 * are valid for the plugin is for the backend to say.
 */
export function fromDraft(drafts: DraftEntry[]): DraftResult {
  const entries: ConfigurationEntry[] = [];
  const problems: string[] = [];

  drafts.forEach((draft, index) => {
    const key = draft.key.trim();
    if (!key) {
      problems.push(`Row ${index + 1}: the key is empty`);
      return;
    }
    const parsed = parseValue(draft);
    if ('problem' in parsed) {
      problems.push(`${key}: ${parsed.problem}`);
      return;
    }
    const description = draft.description.trim();
    entries.push({
      key,
      type: draft.type,
      value: parsed.value,
      ...(draft.required ? { required: true } : {}),
      ...(draft.sensitive ? { sensitive: true } : {}),
      ...(description ? { description } : {}),
      // The backend refuses a rotation date on anything but a secret.
      ...(draft.type === 'secret' && draft.rotateAt
        ? { rotateAt: draft.rotateAt }
        : {}),
    });
  });

  return { entries, problems };
}
