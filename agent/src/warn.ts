// The agent's own diagnostics: one line to stderr, never through the app's logger, and rate-limited per key.
const lastWarned = new Map<string, number>();

/** A configuration or startup problem: always printed. */
export function warn(message: string): void {
  process.stderr.write(`[lookout] warning: ${message}\n`);
}

/**
 * A recurring runtime problem (collector down, queue full): printed at most once per `intervalMillis`
 * for each key, so a dead collector costs one line a minute, not one per batch.
 */
export function warnThrottled(key: string, message: string, intervalMillis = 60_000, now = Date.now()): boolean {
  const last = lastWarned.get(key);
  if (last !== undefined && now - last < intervalMillis) return false;
  lastWarned.set(key, now);
  warn(message);
  return true;
}
