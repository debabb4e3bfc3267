// Polling with a deadline, the one way tests wait for something to happen (no sleeps).
/** What `check` returns while the condition does not hold yet. */
type NotYet = undefined | null | false;

/**
 * Polls `check` until it returns a value (anything but undefined, null or false) and returns that value;
 * fails after `timeoutMs`, naming what was awaited.
 */
export async function eventually<T>(what: string, check: () => T | NotYet | Promise<T | NotYet>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
