// Row <-> domain helpers shared by the stores. PostgreSQL returns timestamps
// as Date objects and SQLite as strings; both become ISO strings here.

export function toIso(value: Date | string | number): string;
export function toIso(
  value: Date | string | number | null | undefined,
): string | undefined;
export function toIso(value: Date | string | number | null | undefined) {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) return value.toISOString();
  if (
    typeof value === 'string' &&
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(value)
  ) {
    // SQLite's CURRENT_TIMESTAMP format, which is UTC
    return new Date(`${value.replace(' ', 'T')}Z`).toISOString();
  }
  return new Date(value).toISOString();
}

export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

export function fromJson<T>(value: string | null | undefined, fallback: T): T {
  if (value === null || value === undefined) return fallback;
  return (JSON.parse(value) as T) ?? fallback;
}

export function optional<T>(value: T | null | undefined): T | undefined {
  return value === null ? undefined : value;
}

export function now(): string {
  return new Date().toISOString();
}
