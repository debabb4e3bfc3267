// Runs another project's own test suite twice, as its users would, without and with the agent preloaded
// (NODE_OPTIONS="--import …/register"), and compares the two pass/fail lists: any difference is a bug of ours.
//
//   npx tsx agent/scripts/upstream-suites.ts <source dir>          a checkout or an extracted tag
//   npx tsx agent/scripts/upstream-suites.ts <git dir> <tag>       extracted (git archive) into a temporary directory
//
// Dependencies are installed with `npm install` when the source has no node_modules. The suite is the
// project's own "test" script (mocha, as Express's, or node --test, as Koa's), run with a reporter we can
// read appended. The run with the agent gets UPSTREAM_SUITES_PRELOAD (default: this checkout's built
// preload, `npm run build -w agent` first) and the caller's LOOKOUT_* and OTEL_* variables;
// OTEL_EXPORTER_OTLP_ENDPOINT defaults to a loopback port nothing listens on. Exit code 0 when both runs
// agree, 1 when they differ, 2 when the suite could not be run.
import { spawn, execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

type Status = 'pass' | 'fail' | 'skip';
type Outcomes = Map<string, Status>;
type Runner = 'mocha' | 'node-test';

const DEFAULT_PRELOAD = fileURLToPath(new URL('../dist/preload/register.js', import.meta.url));

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: upstream-suites.ts <source dir> | <git dir> <tag>\n`);
  process.exit(2);
}

/** The source directory, extracting `tag` from a bare git directory first when given one. */
function sourceDir(args: string[], work: string): { dir: string; extracted: boolean } {
  if (args.length === 1) return { dir: resolve(args[0]!), extracted: false };
  if (args.length !== 2) usage('expected one or two arguments');
  const [gitDir, tag] = args as [string, string];
  const dir = join(work, 'source');
  mkdirSync(dir);
  execFileSync('sh', ['-c', 'git --git-dir="$1" archive "$2" | tar -x -C "$3"', 'sh', gitDir, tag, dir], { stdio: 'inherit' });
  return { dir, extracted: true };
}

/** A loopback port nothing listens on once this returns: the agent's exports fail fast there. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

function runnerOf(testScript: string): Runner {
  if (/(^|\s|\/)mocha(\s|$)/.test(testScript)) return 'mocha';
  if (/(^|\s)node\s+(.*\s)?--test(\s|$)/.test(testScript)) return 'node-test';
  usage(`the test script "${testScript}" runs neither mocha nor node --test`);
}

/** Reporter arguments appended to the project's test script: the last --reporter wins in both runners. */
function reporterArgs(runner: Runner, file: string): string {
  return runner === 'mocha' ? `--reporter json --reporter-option output=${file}` : `--test-reporter=tap --test-reporter-destination=${file}`;
}

async function runSuite(dir: string, command: string, env: NodeJS.ProcessEnv, log: string): Promise<void> {
  const out = createWriteStream(log);
  // sh -c as npm runs scripts, with the project's bin directory first; not through npm itself, whose
  // own process would otherwise load the agent too.
  const child = spawn('sh', ['-c', command], { cwd: dir, env: { ...env, PATH: `${join(dir, 'node_modules', '.bin')}:${env.PATH ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  await new Promise((done) => child.once('close', done));
  out.end();
}

/** Mocha's json reporter: every test by file and full title. */
function mochaOutcomes(file: string, dir: string): Outcomes {
  const report = JSON.parse(readFileSync(file, 'utf8')) as Record<'passes' | 'failures' | 'pending', Array<{ fullTitle: string; file?: string }>>;
  const outcomes: Outcomes = new Map();
  const add = (status: Status) => (t: { fullTitle: string; file?: string }) => addUnique(outcomes, `${t.file ? relative(dir, t.file) : '?'} › ${t.fullTitle}`, status);
  report.passes.forEach(add('pass'));
  report.failures.forEach(add('fail'));
  report.pending.forEach(add('skip'));
  return outcomes;
}

/** node --test's TAP: every test (not suite) by its path of subtest names; a file that fails to load is one failed test. */
function tapOutcomes(file: string): Outcomes {
  const outcomes: Outcomes = new Map();
  const path: string[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const depth = (line.length - line.trimStart().length) / 4;
    const subtest = /^\s*# Subtest: (.*)$/.exec(line);
    if (subtest) {
      path.length = depth;
      path[depth] = subtest[1]!;
      continue;
    }
    const result = /^\s*(not ok|ok) \d+ - (.*?)(\s+# (SKIP|TODO)\b.*)?$/.exec(line);
    if (!result) continue;
    // The YAML block after a result says whether it was a test or a suite.
    let type = 'test';
    for (let j = i + 1; j < lines.length && !/^\s*\.\.\.$/.test(lines[j]!); j++) {
      const typed = /^\s*type: '(\w+)'/.exec(lines[j]!);
      if (typed) type = typed[1]!;
    }
    if (type !== 'test') continue;
    const status: Status = result[4] ? 'skip' : result[1] === 'ok' ? 'pass' : 'fail';
    addUnique(outcomes, [...path.slice(0, depth), result[2]!].join(' › '), status);
  }
  return outcomes;
}

function addUnique(outcomes: Outcomes, key: string, status: Status): void {
  let unique = key;
  for (let n = 2; outcomes.has(unique); n++) unique = `${key} #${n}`;
  outcomes.set(unique, status);
}

function counts(outcomes: Outcomes): string {
  const of = (s: Status) => [...outcomes.values()].filter((v) => v === s).length;
  return `${outcomes.size} tests: ${of('pass')} pass, ${of('fail')} fail, ${of('skip')} skipped`;
}

const work = mkdtempSync(join(tmpdir(), 'upstream-suites-'));
const { dir, extracted } = sourceDir(process.argv.slice(2), work);
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string; scripts?: { test?: string } };
const testScript = pkg.scripts?.test ?? usage(`${dir}/package.json has no "test" script`);
const runner = runnerOf(testScript);
const preload = resolve(process.env.UPSTREAM_SUITES_PRELOAD ?? DEFAULT_PRELOAD);
if (!existsSync(preload)) usage(`no preload at ${preload}: run \`npm run build -w agent\` or set UPSTREAM_SUITES_PRELOAD`);
if (!existsSync(join(dir, 'node_modules'))) execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 2, 2] });

const { NODE_OPTIONS: _callerNodeOptions, ...env } = process.env;
const agentEnv = {
  ...env,
  NODE_OPTIONS: `--import ${preload}`,
  OTEL_EXPORTER_OTLP_ENDPOINT: env.OTEL_EXPORTER_OTLP_ENDPOINT ?? `http://127.0.0.1:${await deadPort()}`,
};
const runs = { without: env, with: agentEnv };
const results: Record<keyof typeof runs, Outcomes> = { without: new Map(), with: new Map() };
for (const [name, runEnv] of Object.entries(runs) as Array<[keyof typeof runs, NodeJS.ProcessEnv]>) {
  const report = join(work, `${name}-agent.${runner === 'mocha' ? 'json' : 'tap'}`);
  const log = join(work, `${name}-agent.log`);
  process.stderr.write(`running ${pkg.name}@${pkg.version} tests ${name} the agent (output in ${log})\n`);
  await runSuite(dir, `${testScript} ${reporterArgs(runner, report)}`, runEnv, log);
  if (!existsSync(report)) usage(`the run ${name} the agent wrote no report; see ${log}`);
  results[name] = runner === 'mocha' ? mochaOutcomes(report, dir) : tapOutcomes(report);
}

const differences = [...new Set([...results.without.keys(), ...results.with.keys()])]
  .filter((key) => results.without.get(key) !== results.with.get(key))
  .map((key) => `  ${key}: ${results.without.get(key) ?? 'absent'} without the agent, ${results.with.get(key) ?? 'absent'} with it`);
process.stdout.write(
  `${pkg.name}@${pkg.version} (${runner})\n  without the agent: ${counts(results.without)}\n  with the agent:    ${counts(results.with)}\n` +
    (differences.length ? `${differences.length} differences:\n${differences.join('\n')}\n` : 'no differences\n'),
);
if (extracted) rmSync(join(work, 'source'), { recursive: true, force: true });
process.exit(differences.length ? 1 : 0);
