// Where the audit API's CPU goes during a bench section: BENCH_AUDIT_PROFILE=1 profiles each measured ingest
// variant and stream run in this process (the bench runs the service in-process, so the profile holds the API, the sealer
// and the load client on the one thread they share), writes .bench/profiles/audit-<label>.cpuprofile (open it
// in Chrome DevTools) and prints the top functions by self time and the packages, through the profile reader the
// agent's bench uses (testkit). Profile before optimising: this is how the sealer's costs in docs/benchmarks.md were found.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import { summarise, type CpuProfile } from '@lookout/testkit';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const OUT_DIR = new URL('../../.bench/profiles/', import.meta.url);
const TOP = Number(process.env.BENCH_AUDIT_PROFILE_TOP ?? 20);

/** Runs `work` under the V8 sampling profiler when BENCH_AUDIT_PROFILE is set; otherwise just runs it. */
export async function profiled<T>(label: string, work: () => Promise<T>): Promise<T> {
  if (!process.env.BENCH_AUDIT_PROFILE) return work();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    session.disconnect();
    mkdirSync(OUT_DIR, { recursive: true });
    const file = new URL(`audit-${label}.cpuprofile`, OUT_DIR);
    writeFileSync(file, JSON.stringify(profile));
    report(label, profile, fileURLToPath(file));
  }
}

function report(label: string, profile: CpuProfile, file: string): void {
  const summary = summarise(profile, { fromUs: profile.startTime, toUs: profile.endTime, repoDir: REPO_DIR, appDirs: [fileURLToPath(new URL('../', import.meta.url))] });
  const pct = (us: number) => `${((100 * us) / summary.windowUs).toFixed(1)}%`;
  const lines = [
    `profile ${label}: ${file}; busy ${pct(summary.busyUs)} of ${(summary.windowUs / 1e6).toFixed(1)} s`,
    `  packages (self): ${summary.packages.slice(0, 8).map((p) => `${p.pkg} ${pct(p.selfUs)}`).join(', ')}`,
    ...[...summary.functions]
      .sort((a, b) => b.selfUs - a.selfUs)
      .slice(0, TOP)
      .map((e) => `  ${pct(e.selfUs).padStart(6)} self ${pct(e.totalUs).padStart(6)} total  ${e.frame.name} ${e.frame.location}`),
  ];
  console.error(lines.join('\n'));
}
