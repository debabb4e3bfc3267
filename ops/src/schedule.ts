// When the service backs up next: one UTC time of day, so no cron expression and no cron dependency.

/** The first moment after `now` at `minutes` past midnight UTC. */
export function nextRun(now: Date, minutes: number): Date {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) + minutes * 60_000;
  return new Date(today > now.getTime() ? today : today + 86_400_000);
}

/** Whether `taken` is on the same UTC day as `now`. */
export function sameUtcDay(taken: Date, now: Date): boolean {
  return taken.toISOString().slice(0, 10) === now.toISOString().slice(0, 10);
}
