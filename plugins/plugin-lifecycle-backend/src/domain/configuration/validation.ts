import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import { linearRegExp } from './linearRegExp';
import { ConfigurationEntry } from '@internal/plugin-lifecycle-common';

/**
 * One thing wrong with a configuration, for the key it concerns.
 *
 * @public
 */
export interface ConfigProblem {
  /**
   * The entry's key; `(schema)` when the plugin's schema itself is invalid,
   * `(document)` when the schema rejects the document as a whole.
   */
  key: string;
  message: string;
}

/**
 * Checks a layer's entries on their own, without the plugin's schema, and
 * returns every problem found (an empty list when they are fine):
 *
 * - a key may appear only once;
 * - the value must match the type: `string` a string, `number` a finite
 *   number, `boolean` a boolean, `json` any JSON value (`null` included, but
 *   not `undefined`), `secret` a non-empty string;
 * - a `required` entry must have a value that is not null, undefined or '';
 * - `rotateAt` belongs on secret entries only.
 *
 * Messages never include a value, since it may be a secret.
 *
 * @public
 */
export function validateEntries(
  entries: ConfigurationEntry[],
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];

  const counts = new Map<string, number>();
  for (const { key } of entries) {
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const reported = new Set<string>();

  for (const entry of entries) {
    const { key } = entry;
    const count = counts.get(key) ?? 0;
    if (count > 1 && !reported.has(key)) {
      reported.add(key);
      problems.push({
        key,
        message: `appears ${count} times; each key may appear only once`,
      });
    }

    const empty =
      entry.value === undefined || entry.value === null || entry.value === '';
    if (entry.required && empty) {
      // One problem is enough: "no value" says more than "not a string".
      problems.push({ key, message: 'is required but has no value' });
    } else {
      const mismatch = typeMismatch(entry);
      if (mismatch) problems.push({ key, message: mismatch });
    }

    if (entry.rotateAt !== undefined) {
      if (entry.type !== 'secret') {
        problems.push({
          key,
          message: `rotateAt is only allowed on secret entries, not on type '${entry.type}'`,
        });
      } else if (Number.isNaN(Date.parse(entry.rotateAt))) {
        problems.push({ key, message: 'rotateAt must be an ISO 8601 date' });
      }
    }
  }
  return problems;
}

function typeMismatch(entry: ConfigurationEntry): string | undefined {
  const { value } = entry;
  switch (entry.type) {
    case 'string':
      return typeof value === 'string'
        ? undefined
        : `must be a string, got ${describe(value)}`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
        ? undefined
        : `must be a finite number, got ${describe(value)}`;
    case 'boolean':
      return typeof value === 'boolean'
        ? undefined
        : `must be true or false, got ${describe(value)}`;
    case 'secret':
      return typeof value === 'string' && value !== ''
        ? undefined
        : `must be a non-empty string, got ${describe(value)}`;
    case 'json': {
      const problem = notJson(value, '$', new Set());
      return problem ? `must be a JSON value: ${problem}` : undefined;
    }
    default:
      return `has unknown type '${String(entry.type)}'`;
  }
}

/**
 * Why a value would not survive a JSON round trip unchanged, if it would
 * not. Only plain objects and arrays count: a Date or a Map would come back
 * as something else.
 */
function notJson(
  value: unknown,
  path: string,
  seen: Set<object>,
): string | undefined {
  const at = path === '$' ? '' : ` at ${path}`;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${value}${at}`;
    case 'object':
      break;
    default:
      return `${describe(value)}${at}`;
  }
  if (value === null) return undefined;
  if (seen.has(value)) return `a circular reference${at}`;

  if (Array.isArray(value)) {
    seen.add(value);
    for (let i = 0; i < value.length; i++) {
      const problem = notJson(value[i], `${path}[${i}]`, seen);
      if (problem) return problem;
    }
    seen.delete(value);
    return undefined;
  }

  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    return `${describe(value)}${at}`;
  }
  seen.add(value);
  for (const [name, child] of Object.entries(value)) {
    const problem = notJson(child, `${path}.${name}`, seen);
    if (problem) return problem;
  }
  seen.delete(value);
  return undefined;
}

/** The kind of a value, never the value itself (it may be a secret). */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return name && name !== 'Object' ? `a ${name}` : 'an object';
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return String(value);
  }
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}

const MAX_CACHED_SCHEMAS = 100;

type CompiledSchema = { validate: ValidateFunction } | { invalid: string };

// Compiling is by far the most expensive step, and a plugin's schema rarely
// changes, so compiled validators are kept, keyed by the schema's JSON.
const compiled = new Map<string, CompiledSchema>();

/**
 * Validates a configuration document (see `configDocument`) against the JSON
 * Schema a plugin declares, and returns every problem, each for the
 * top-level key it concerns. Without a schema there is nothing to check.
 *
 * @public
 */
export function validateAgainstSchema(
  document: Record<string, unknown>,
  schema: Record<string, unknown> | undefined,
): ConfigProblem[] {
  if (!schema) return [];

  const result = compile(schema);
  if ('invalid' in result) {
    return [
      {
        key: '(schema)',
        message: `the plugin's configuration schema is invalid: ${result.invalid}`,
      },
    ];
  }
  if (result.validate(document)) return [];

  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const error of result.validate.errors ?? []) {
    const problem = toProblem(error);
    const id = `${problem?.key}\u0000${problem?.message}`;
    if (problem && !seen.has(id)) {
      seen.add(id);
      problems.push(problem);
    }
  }
  return problems;
}

function compile(schema: Record<string, unknown>): CompiledSchema {
  const cacheKey = JSON.stringify(schema);
  const cached = compiled.get(cacheKey);
  if (cached) {
    // Least recently used goes first: move this one to the end.
    compiled.delete(cacheKey);
    compiled.set(cacheKey, cached);
    return cached;
  }

  let result: CompiledSchema;
  try {
    // One Ajv per schema: two plugins may use the same `$id`, which a shared
    // instance refuses, and an evicted schema is then freed with its
    // validator instead of staying in a shared instance's own cache.
    // No logger: Ajv would print to the console (for example for a format it
    // does not know, which it then ignores) instead of the backend's logger.
    const ajv = new Ajv({
      allErrors: true,
      strict: false,
      logger: false,
      // The schema is the caller's: its patterns must not stall the backend.
      code: { regExp: linearRegExp },
    });
    result = { validate: ajv.compile(schema) };
  } catch (error) {
    result = {
      invalid: error instanceof Error ? error.message : String(error),
    };
  }

  compiled.set(cacheKey, result);
  if (compiled.size > MAX_CACHED_SCHEMAS) {
    compiled.delete(compiled.keys().next().value!);
  }
  return result;
}

function toProblem(error: ErrorObject): ConfigProblem | undefined {
  // These only say that a subschema failed; its own errors say how.
  if (error.keyword === 'if' || error.keyword === 'propertyNames') {
    return undefined;
  }

  const [first, ...rest] = error.instancePath
    .split('/')
    .slice(1)
    .map(unescapePointer);
  const params = error.params as Record<string, unknown>;

  if (first === undefined) {
    // The error is about the document itself: name the key from the params.
    if (error.keyword === 'required') {
      return {
        key: String(params.missingProperty),
        message: "is required by the plugin's schema",
      };
    }
    if (
      error.keyword === 'dependencies' ||
      error.keyword === 'dependentRequired'
    ) {
      return {
        key: String(params.missingProperty),
        message: `is required by the plugin's schema when '${params.property}' is set`,
      };
    }
    if (error.keyword === 'additionalProperties') {
      return {
        key: String(params.additionalProperty),
        message: "is not a key the plugin's schema allows",
      };
    }
    if (error.propertyName !== undefined) {
      return {
        key: error.propertyName,
        message: `is not a valid key: ${message(error)}`,
      };
    }
    return { key: '(document)', message: message(error) };
  }

  const where =
    rest.length > 0 ? `at /${rest.map(escapePointer).join('/')}: ` : '';
  const name =
    error.propertyName !== undefined
      ? `property name '${error.propertyName}' `
      : '';
  return { key: first, message: `${where}${name}${message(error)}` };
}

function message(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  const text = error.message ?? `fails "${error.keyword}"`;
  if (error.keyword === 'additionalProperties') {
    return `${text} ('${params.additionalProperty}')`;
  }
  if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    // The allowed values come from the schema, not from the (maybe secret) data.
    return `${text}: ${params.allowedValues
      .map(v => JSON.stringify(v))
      .join(', ')}`;
  }
  return text;
}

/** Decodes one JSON Pointer segment (RFC 6901: `~1` is `/`, `~0` is `~`). */
function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}
