// The retention policy on fixed dates: 7 daily, 4 weekly (ISO weeks) and 12 monthly copies, all UTC.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { applyRetention, isoWeek } from '../src/retention.js';
import { nextRun, sameUtcDay } from '../src/schedule.js';

const DEFAULT = { daily: 7, weekly: 4, monthly: 12 };
const at = (iso: string) => ({ takenAt: new Date(iso) });
/** One backup a day at 02:30 UTC from `first` to `last`, inclusive. */
function daily(first: string, last: string) {
  const out = [];
  for (let t = Date.parse(`${first}T02:30:00Z`); t <= Date.parse(`${last}T02:30:00Z`); t += 86_400_000) out.push({ takenAt: new Date(t) });
  return out;
}
const days = (backups: { takenAt: Date }[]) => backups.map((b) => b.takenAt.toISOString().slice(0, 10));

describe('retention', () => {
  it('names ISO weeks as ISO 8601 does, across year boundaries', () => {
    assert.equal(isoWeek(new Date('2026-01-01T00:00:00Z')), '2026-W01'); // a Thursday
    assert.equal(isoWeek(new Date('2024-12-30T12:00:00Z')), '2025-W01'); // Monday of the week holding 2 January 2025's Thursday
    assert.equal(isoWeek(new Date('2027-01-01T00:00:00Z')), '2026-W53'); // 2026 has 53 weeks
    assert.equal(isoWeek(new Date('2026-11-29T23:59:59Z')), '2026-W48'); // Sunday ends the week
    assert.equal(isoWeek(new Date('2026-11-30T00:00:00Z')), '2026-W49');
  });

  it('keeps 7 daily, 4 weekly and 12 monthly copies of two years of daily backups: the newest of each period', () => {
    const backups = daily('2025-01-01', '2026-11-30');
    const { keep, remove } = applyRetention(backups, DEFAULT);
    assert.deepEqual(days(keep), [
      // daily: the last 7 days
      '2026-11-30', '2026-11-29', '2026-11-28', '2026-11-27', '2026-11-26', '2026-11-25', '2026-11-24',
      // weekly: W49 (30th) and W48 (29th) are daily copies already; W47 and W46 end on Sundays
      '2026-11-22', '2026-11-15',
      // monthly: the last day of each of the 11 months before November
      '2026-10-31', '2026-09-30', '2026-08-31', '2026-07-31', '2026-06-30', '2026-05-31', '2026-04-30', '2026-03-31', '2026-02-28', '2026-01-31', '2025-12-31',
    ]);
    assert.equal(keep.length + remove.length, backups.length);
  });

  it('keeps the newest backup of a day when there are several', () => {
    const backups = [at('2026-11-30T02:30:00Z'), at('2026-11-30T14:00:00Z'), at('2026-11-29T02:30:00Z')];
    const { keep, remove } = applyRetention(backups, { daily: 1, weekly: 0, monthly: 0 });
    assert.deepEqual(keep.map((b) => b.takenAt.toISOString()), ['2026-11-30T14:00:00.000Z']);
    assert.equal(remove.length, 2);
  });

  it('counts only days that have a backup: a gap does not use up the daily copies', () => {
    const everyOtherDay = daily('2026-11-01', '2026-11-30').filter((_, i) => i % 2 === 1);
    const { keep } = applyRetention(everyOtherDay, { daily: 7, weekly: 0, monthly: 0 });
    assert.deepEqual(days(keep), ['2026-11-30', '2026-11-28', '2026-11-26', '2026-11-24', '2026-11-22', '2026-11-20', '2026-11-18']);
  });

  it('keeps the newest backup even when every count is 0, and keeps everything when there are fewer than the counts', () => {
    assert.deepEqual(days(applyRetention(daily('2026-11-01', '2026-11-03'), { daily: 0, weekly: 0, monthly: 0 }).keep), ['2026-11-03']);
    const few = daily('2026-11-28', '2026-11-30');
    assert.deepEqual(applyRetention(few, DEFAULT).remove, []);
  });

  it('does not depend on the order it is given the backups in', () => {
    const backups = daily('2026-01-01', '2026-11-30');
    const shuffled = [...backups].sort((a, b) => (a.takenAt.getTime() % 7) - (b.takenAt.getTime() % 7));
    assert.deepEqual(days(applyRetention(shuffled, DEFAULT).keep), days(applyRetention(backups, DEFAULT).keep));
  });
});

describe('schedule', () => {
  it('runs next at the schedule time today if it is still ahead, else tomorrow (UTC)', () => {
    assert.equal(nextRun(new Date('2026-11-30T01:00:00Z'), 150).toISOString(), '2026-11-30T02:30:00.000Z');
    assert.equal(nextRun(new Date('2026-11-30T02:30:00Z'), 150).toISOString(), '2026-12-01T02:30:00.000Z');
    assert.equal(nextRun(new Date('2026-12-31T23:59:00Z'), 0).toISOString(), '2027-01-01T00:00:00.000Z');
  });

  it('tells a backup from today (UTC) from one of yesterday', () => {
    assert.ok(sameUtcDay(new Date('2026-11-30T00:00:01Z'), new Date('2026-11-30T23:59:59Z')));
    assert.ok(!sameUtcDay(new Date('2026-11-29T23:59:59Z'), new Date('2026-11-30T00:00:00Z')));
  });
});
