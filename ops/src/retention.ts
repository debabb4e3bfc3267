// Which backups to keep: the newest of each of the last N days, ISO weeks and months (UTC) that have one.
// Pure, so that the policy is tested with fixed dates; deleting files is the caller's job.

export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export interface Dated {
  takenAt: Date;
}

/** `2026-W05`: the ISO 8601 week (Monday first; week 1 holds the year's first Thursday) of a UTC date. */
export function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  // The Thursday of this week decides the year the week belongs to.
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const PERIODS: Record<keyof RetentionPolicy, (date: Date) => string> = {
  daily: (date) => date.toISOString().slice(0, 10),
  weekly: isoWeek,
  monthly: (date) => date.toISOString().slice(0, 7),
};

/**
 * Splits backups into those to keep and those to delete. For each rule, walking from the newest backup
 * back, the first backup seen in a period is that period's copy, until the rule has its count of periods;
 * a backup kept by any rule is kept. The newest backup is always kept (it is the newest day's copy unless
 * every count is 0).
 */
export function applyRetention<T extends Dated>(backups: readonly T[], policy: RetentionPolicy): { keep: T[]; remove: T[] } {
  const newestFirst = [...backups].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
  const kept = new Set<T>(newestFirst.slice(0, 1));
  for (const rule of Object.keys(PERIODS) as (keyof RetentionPolicy)[]) {
    const seen = new Set<string>();
    for (const backup of newestFirst) {
      const period = PERIODS[rule](backup.takenAt);
      if (seen.has(period)) continue;
      if (seen.size === policy[rule]) break;
      seen.add(period);
      kept.add(backup);
    }
  }
  return { keep: newestFirst.filter((b) => kept.has(b)), remove: newestFirst.filter((b) => !kept.has(b)) };
}
