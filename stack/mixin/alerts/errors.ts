// Error issues, the way Sentry users expect them: a fault never seen before, and a known one that came back
// with a release. Both read the agent's lookout.errors counter (one series per fingerprint and release); a
// series exists from a fingerprint's first occurrence in a process, so presence is "seen".
import { dashboardUids, errors, type Duration } from '../config.js';
import { asService } from '../promql.js';
import type { AlertRule, RuleGroup } from '../rules.js';

export const panels = {
  issues: 'Issues',
  releases: 'Releases per issue',
} as const;

const ISSUE = ['service', 'exception_fingerprint', 'exception_type'];
const by = (labels: string[]) => labels.join(', ');
const errorsDashboard = (panel: string) => ({
  uid: dashboardUids.errors,
  panel,
  vars: { service: '{{ $labels.service }}', fingerprint: '{{ $labels.exception_fingerprint }}' },
});

/** The issues (optionally per release) that had a series at some point in the `history` before the last `window`. */
const seenBefore = (labels: string[], window: Duration, history: Duration) =>
  `count by (${by(labels)}) (${asService(`last_over_time(${errors.metric}[${history}] offset ${window})`)})`;

const current = (labels: string[]) => `count by (${by(labels)}) (${asService(errors.metric)})`;

export function errorAlertGroups(): Array<RuleGroup<AlertRule>> {
  const fresh = errors.newFingerprint;
  const back = errors.regression;
  return [
    {
      name: 'lookout-error-alerts',
      interval: '1m',
      why: `Read ${errors.metric}; the ${fresh.history} look-back is the expensive part, hence a 1m evaluation interval.`,
      rules: [
        {
          alert: 'NewErrorFingerprint',
          why: `A fingerprint no process of the service reported in the ${fresh.history} before the last ${fresh.window}. Fires for ${fresh.window}, once per new fault.`,
          expr: `${current(ISSUE)}\nunless on (service, exception_fingerprint)\n${seenBefore(['service', 'exception_fingerprint'], fresh.window, fresh.history)}`,
          for: fresh.for,
          severity: 'warning',
          summary: '{{ $labels.service }}: new error {{ $labels.exception_type }} ({{ $labels.exception_fingerprint }})',
          description: `{{ $labels.service }} raised an exception of type {{ $labels.exception_type }} whose fingerprint {{ $labels.exception_fingerprint }} was not seen in the ${fresh.history} before: a new fault, usually from a recent change.`,
          value: 'new',
          dashboard: errorsDashboard(panels.issues),
        },
        {
          alert: 'ErrorRegressedAfterRelease',
          why: `A fingerprint known from the ${back.history} before, quiet for the ${back.quietFor} before the last ${back.window}, now occurring in a release (service_version) it had not occurred in.`,
          expr: [
            current([...ISSUE, 'service_version']),
            'unless on (service, exception_fingerprint, service_version)',
            seenBefore(['service', 'exception_fingerprint', 'service_version'], back.window, back.history),
            'and on (service, exception_fingerprint)',
            seenBefore(['service', 'exception_fingerprint'], back.window, back.history),
            'unless on (service, exception_fingerprint)',
            `sum by (service, exception_fingerprint) (${asService(`increase(${errors.metric}[${back.quietFor}] offset ${back.window})`)}) > 0`,
          ].join('\n'),
          for: back.for,
          severity: 'warning',
          summary: '{{ $labels.service }} {{ $labels.service_version }}: error {{ $labels.exception_type }} is back ({{ $labels.exception_fingerprint }})',
          description: `{{ $labels.service }} release {{ $labels.service_version }} raises {{ $labels.exception_type }} (fingerprint {{ $labels.exception_fingerprint }}) again: known from earlier releases, quiet for at least ${back.quietFor}, back with this release.`,
          value: '{{ $labels.service_version }}',
          dashboard: errorsDashboard(panels.releases),
        },
      ],
    },
  ];
}
