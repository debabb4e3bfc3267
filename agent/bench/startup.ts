// What a preload costs at start-up, build against build: for each round and each build (plain Node first),
// the outside app from spawn to its first 200 (wall, and the process's CPU until then), and an empty script
// (wall and CPU until the main script runs: the preload alone). Builds interleaved within each round; the
// differences to plain and to the first build are taken within the round, then summarised.
//   npx tsx bench/startup.ts [rounds] [name=path/to/dist/preload/register.js …]   (default: this build)
import { execFileSync, spawn } from 'node:child_process';
import { freePort } from '@lookout/testkit';
import { AGENT_DIR, cpuMicros, exited, firstOk } from './harness.js';
import { prepareOutsideApp } from './outside-app.js';
import { signed, spread } from './report.js';

interface Build {
  name: string;
  /** The --import entry; undefined for plain Node. */
  preload: string | undefined;
  firstOkMs: number[];
  firstOkCpuMs: number[];
  readyMs: number[];
  readyCpuMs: number[];
}

const [roundsArg, ...buildArgs] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 10);
const builds: Build[] = [
  { name: 'plain', preload: undefined },
  ...(buildArgs.length > 0 ? buildArgs : [`lookout=${AGENT_DIR}/dist/preload/register.js`]).map((arg) => {
    const at = arg.indexOf('=');
    return { name: arg.slice(0, at), preload: arg.slice(at + 1) };
  }),
].map((b) => ({ ...b, firstOkMs: [], firstOkCpuMs: [], readyMs: [], readyCpuMs: [] }));
// Nothing listens here: exports fail quietly, as with a collector that is not up yet.
const env = { PATH: process.env.PATH, HOME: process.env.HOME, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' };
const { entry } = prepareOutsideApp();

async function appStartup(build: Build): Promise<[number, number]> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...(build.preload ? ['--import', build.preload] : []), entry], {
    env: { ...env, PORT: String(port) },
    stdio: 'ignore',
  });
  const ok = await firstOk(`http://127.0.0.1:${port}/trivial`);
  const cpu = cpuMicros(child.pid!) / 1000;
  child.kill('SIGKILL');
  await exited(child);
  return [ok - started, cpu];
}

function preloadAlone(build: Build): [number, number] {
  const script = 'const c = process.cpuUsage(); process.stdout.write(`${performance.now()} ${(c.user + c.system) / 1000}`); process.exit(0)';
  const out = execFileSync(process.execPath, [...(build.preload ? ['--import', build.preload] : []), '--input-type=module', '-e', script], { env });
  return out.toString().split(' ').map(Number) as [number, number];
}

for (let round = -1; round < rounds; round++) {
  for (const build of builds) {
    const [okMs, okCpu] = await appStartup(build);
    const [readyMs, readyCpu] = preloadAlone(build);
    if (round < 0) continue; // a warm-up round: file cache, compile cache of Node itself
    build.firstOkMs.push(okMs);
    build.firstOkCpuMs.push(okCpu);
    build.readyMs.push(readyMs);
    build.readyCpuMs.push(readyCpu);
  }
}

const above = (values: number[], base: number[]) => signed(spread(values.map((v, i) => v - base[i]!)), 0);
const figures: Array<[string, keyof Build]> = [
  ['outside app, spawn → first 200, wall ms', 'firstOkMs'],
  ['outside app, CPU ms until the first 200', 'firstOkCpuMs'],
  ['empty script, wall ms until it runs', 'readyMs'],
  ['empty script, CPU ms until it runs', 'readyCpuMs'],
];
const [plain, first] = [builds[0]!, builds[1]!];
console.log(`${rounds} rounds, ${builds.map((b) => b.name).join(', ')} interleaved; median (min…max) of within-round differences\n`);
console.log(`| figure | ${builds.slice(1).map((b) => `${b.name} − plain`).join(' | ')} | ${builds.slice(2).map((b) => `${b.name} − ${first.name}`).join(' | ')} |`);
console.log(`|---|${'---:|'.repeat(2 * builds.length - 3)}`);
for (const [title, key] of figures) {
  const series = (b: Build) => b[key] as number[];
  const cells = [...builds.slice(1).map((b) => above(series(b), series(plain))), ...builds.slice(2).map((b) => above(series(b), series(first)))];
  console.log(`| ${title} | ${cells.join(' | ')} |`);
}
