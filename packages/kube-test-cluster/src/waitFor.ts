/**
 * Polls `probe` until it returns something other than undefined or false,
 * and returns that. On timeout, throws with `what` and the probe's last
 * value or error, so a failing test says what it was waiting for.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail =
        last instanceof Error
          ? last.message
          : JSON.stringify(last) ?? String(last);
      throw new Error(`timed out waiting for ${what} (last: ${detail})`);
    }
    await new Promise(resolve =>
      setTimeout(resolve, options.intervalMs ?? 250),
    );
  }
}
