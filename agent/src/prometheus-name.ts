// The names Prometheus gives OTLP metrics and attributes on ingestion (translation strategy
// UnderscoreEscapingWithSuffixes, its default), ported from prometheus/otlptranslator (normalizeName,
// buildUnitSuffixes, NormalizeLabel), for the agent's /metrics endpoint (prometheus-reader.ts); checked against
// otlptranslator's own examples in agent/test/prometheus-name.test.ts.
//   names   split into tokens on anything but [a-zA-Z0-9:]; the unit's words added unless the name has them
//           (s → seconds, By → bytes, `/s` → per_second, `{annotations}` → nothing); `total` on counters and
//           `ratio` on gauges of unit 1, moved to the end; a leading digit gets `_`
//   labels  invalid characters → `_`, a leading digit → `key_`, one leading `_` → `key_`

const UNITS: Record<string, string> = {
  d: 'days', h: 'hours', min: 'minutes', s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds',
  By: 'bytes', KiBy: 'kibibytes', MiBy: 'mebibytes', GiBy: 'gibibytes', TiBy: 'tibibytes', KBy: 'kilobytes', MBy: 'megabytes', GBy: 'gigabytes', TBy: 'terabytes',
  m: 'meters', V: 'volts', A: 'amperes', J: 'joules', W: 'watts', g: 'grams', Cel: 'celsius', Hz: 'hertz', '1': '', '%': 'percent',
};
const PER_UNITS: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/** How Prometheus types the metric: only counters get `_total`, only gauges `_ratio`. */
export type PrometheusMetricKind = 'counter' | 'gauge' | 'other';

export interface PrometheusMetricName {
  name: string;
  /** The unit words appended (`seconds`, `bytes_per_second`), '' when none: the OpenMetrics UNIT metadata. */
  unit: string;
}

const tokens = (text: string) => text.split(/[^a-zA-Z0-9:]+/).filter(Boolean);
const cleanUnit = (unit: string) => unit.replace(/[^a-zA-Z0-9:]/g, '_').replace(/__+/g, '_').replace(/^_/, '');

/** The main and the `per_` unit suffix of an OTLP unit, such as `By/s` → [`bytes`, `per_second`]. */
function unitSuffixes(unit: string): [string, string] {
  const slash = unit.indexOf('/');
  const [main, per] = slash < 0 ? [unit, ''] : [unit.slice(0, slash), unit.slice(slash + 1)];
  const usable = (u: string) => u.trim() !== '' && !/[{}]/.test(u);
  const mainSuffix = usable(main) ? (UNITS[main.trim()] ?? main.trim()) : '';
  const perSuffix = usable(per) ? `per_${PER_UNITS[per.trim()] ?? per.trim()}` : '';
  return [cleanUnit(mainSuffix), cleanUnit(perSuffix)];
}

/** The Prometheus name of an OTLP metric `name` in `unit`. */
export function prometheusMetricName(name: string, unit: string, kind: PrometheusMetricKind): PrometheusMetricName {
  let parts = tokens(name);
  let [main, per] = unitSuffixes(unit);
  if (parts.includes(main)) main = '';
  per = per === 'per_' ? '' : per.replace(/_$/, '');
  if (parts.includes(per)) per = '';
  if (per) main = main.replace(/_$/, '');
  const suffix = [...(main ? [main] : []), ...(per ? [per] : [])];
  parts = [...parts, ...suffix];
  if (kind === 'counter') parts = [...parts.filter((t) => t !== 'total'), 'total'];
  if (kind === 'gauge' && unit === '1') parts = [...parts.filter((t) => t !== 'ratio'), 'ratio'];
  const joined = parts.join('_');
  return { name: /^[0-9]/.test(joined) ? `_${joined}` : joined, unit: suffix.join('_') };
}

/** The Prometheus label name of an OTLP attribute. */
export function prometheusLabelName(attribute: string): string {
  const label = attribute.replace(/[^a-zA-Z0-9_]/g, '_');
  if (/^[0-9]/.test(label)) return `key_${label}`;
  return label.startsWith('_') && !label.startsWith('__') ? `key${label}` : label;
}
