// The stack's upstream programs (built by scripts/build-stack.sh into .tools/stack/) run on loopback with
// the committed configuration, rendered only for addresses and paths: each compose service's `command`
// flags, environment and volumes and secrets mapped from container paths back to the repository (named
// volumes to a scratch directory, host paths to themselves), and every compose address (`prometheus:9090`,
// `0.0.0.0:4317`, …) to a free loopback port. Loki and Tempo are not built here (see README): their
// addresses go wherever the caller says; PostgreSQL is the test server (SERVER_URL).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { SERVER_URL } from './database.js';
import { eventually } from './eventually.js';
import { freePort } from './free-port.js';
import { loadRepoYaml as loadYaml, repoPath as repo } from './repo.js';

export type StackProgram = 'otelcol-lookout' | 'prometheus' | 'promtool' | 'alertmanager' | 'amtool' | 'blackbox-exporter' | 'postgres-exporter';

/** The pinned versions, from scripts/stack-versions.sh (the build script's own source). */
export function stackVersions(): Record<string, string> {
  const text = readFileSync(repo('scripts/stack-versions.sh'), 'utf8');
  return Object.fromEntries([...text.matchAll(/^([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** The build script's program (scripts/stack-versions.sh's stack_dir) each binary comes from. */
const BUILT_BY: Record<StackProgram, string> = {
  'otelcol-lookout': 'collector',
  prometheus: 'prometheus',
  promtool: 'prometheus',
  alertmanager: 'alertmanager',
  amtool: 'alertmanager',
  'blackbox-exporter': 'blackbox-exporter',
  'postgres-exporter': 'postgres-exporter',
};

/** .tools/stack/<dir> of a program, as scripts/stack-versions.sh names it (the Collector's carries its manifest's hash). */
function stackDir(program: StackProgram): string {
  const script = 'source "$1" && stack_dir "$2"';
  return execFileSync('bash', ['-c', script, 'stack-dir', repo('scripts/stack-versions.sh'), BUILT_BY[program]], { encoding: 'utf8' }).trim();
}

/** Where a built program is; throws, naming the build command, when it has not been built. */
export function stackBinary(program: StackProgram): string {
  const dir = stackDir(program);
  const binary = repo('.tools/stack', dir, 'bin', program);
  if (!existsSync(repo('.tools/stack', dir, '.done'))) throw new Error(`${program} is not built: run scripts/build-stack.sh (./lookout test and ./lookout stack run it)`);
  return binary;
}

/** The compose services this runs, and the ports they listen on inside the compose network. */
const SERVICE_PORTS: Record<string, number[]> = {
  'otel-collector': [4317, 4318, 8888, 13133],
  prometheus: [9090],
  alertmanager: [9093],
  'blackbox-exporter': [9115],
  'postgres-exporter': [9187],
};
const EXPORTERS = ['blackbox-exporter', 'postgres-exporter'];

/** Values for compose's `${VAR}` where compose has no default; the test server trusts loopback, so any password does. */
const TEST_ENVIRONMENT: Record<string, string> = { MONITOR_DB_PASSWORD: 'lookout-monitor-test' };

export interface StackOptions {
  /**
   * Addresses for compose services that do not run here (`loki:3100`, `tempo:4317`, `tempo:3200`, or a probed
   * service such as `gateway:8081`). Default for Loki and Tempo: a free port nobody listens on; `postgres:5432`
   * is the test server (SERVER_URL).
   */
  elsewhere?: Record<string, string>;
  /** Also run blackbox_exporter and postgres_exporter (Debian's builds, scripts/install-exporters.sh). */
  exporters?: boolean;
  /** Values for docker-compose.yml's `${VAR}` references (default: compose's own defaults, and a test password). */
  environment?: Record<string, string>;
  /** Changes to a service's rendered command-line flags (tests narrow postgres-exporter's databases; nothing else should). */
  flags?: Record<string, (flags: string[]) => string[]>;
  /** Changes to the rendered documents before they are written (tests shorten intervals; nothing else should). */
  prometheusConfig?: (config: any) => void;
  alertmanagerConfig?: (config: any) => void;
  /** Rule files to load instead of the committed ones (tests pass copies with shorter `for:`). */
  ruleFiles?: string[];
}

export interface RunningStack {
  /** `127.0.0.1:port` for each compose address (`otel-collector:4317`, `prometheus:9090`, …). */
  address: (composeAddress: string) => string;
  /** OTLP/gRPC endpoint of the Collector, for the agent's OTEL_EXPORTER_OTLP_ENDPOINT. */
  otlpEndpoint: string;
  prometheusUrl: string;
  alertmanagerUrl: string;
  /** What each program printed, for failure messages. */
  output(service: string): string;
  /** Stops one program (SIGTERM) or starts it again with the same configuration and data. */
  stopService(service: string): Promise<void>;
  startService(service: string): Promise<void>;
  stop(): Promise<void>;
}

interface Program {
  binary: string;
  args: string[];
  ready: string;
  child?: ChildProcess;
  output: string;
}

/** Starts the Collector, Prometheus and Alertmanager; resolves when each answers its readiness endpoint. */
export async function startStack(options: StackOptions = {}): Promise<RunningStack> {
  const scratch = mkdtempSync(join(tmpdir(), 'lookout-stack-'));
  const compose = loadYaml('docker-compose.yml');
  const addresses = new Map<string, string>();
  for (const [service, ports] of Object.entries(SERVICE_PORTS)) {
    for (const port of ports) addresses.set(`${service}:${port}`, `127.0.0.1:${await freePort()}`);
  }
  for (const gone of ['loki:3100', 'tempo:4317', 'tempo:3200']) addresses.set(gone, `127.0.0.1:${await freePort()}`);
  const server = new URL(SERVER_URL);
  addresses.set('postgres:5432', `${server.hostname}:${server.port || 5432}`);
  for (const [composeAddress, local] of Object.entries(options.elsewhere ?? {})) addresses.set(composeAddress, local);
  const address = (composeAddress: string) => {
    const found = addresses.get(composeAddress);
    if (!found) throw new Error(`no loopback address for ${composeAddress}: add it to SERVICE_PORTS or options.elsewhere`);
    return found;
  };

  // Container paths → this machine: the service's bind mounts and secrets, its named volumes in scratch.
  const mountsOf = (service: string): Array<[string, string]> => {
    const mounts: Array<[string, string]> = [];
    for (const volume of compose.services[service].volumes ?? []) {
      const [source, target] = String(volume).split(':') as [string, string];
      // ./path: the repository's; /path: this machine's own (the Collector's view of the host); else a named volume.
      mounts.push([target, source.startsWith('./') ? repo(source) : source.startsWith('/') ? source : join(scratch, service, source)]);
    }
    for (const secret of compose.services[service].secrets ?? []) mounts.push([secret.target, repo(compose.secrets[secret.source].file)]);
    // Longest first, so /etc/prometheus/rules wins over /etc/prometheus.
    return mounts.sort((a, b) => b[0].length - a[0].length);
  };
  const services = Object.keys(SERVICE_PORTS).filter((service) => options.exporters || !EXPORTERS.includes(service));
  const mounts = Object.fromEntries(services.map((service) => [service, mountsOf(service)]));
  const pathsOf = (service: string) => mounts[service]!;
  const localPath = (service: string, containerPath: string) => {
    for (const [target, source] of pathsOf(service)) {
      if (containerPath === target || containerPath.startsWith(`${target}/`)) return source + containerPath.slice(target.length);
    }
    return containerPath;
  };
  // Every "host:port" of the compose network in a document; 0.0.0.0 and localhost mean the service itself.
  const render = (service: string, value: unknown): unknown => {
    if (typeof value === 'string') {
      const addressed = value.replace(/\b(0\.0\.0\.0|localhost|[a-z][a-z-]*[a-z]):(\d{2,5})\b/g, (match, host: string, port: string) => {
        const key = `${host === '0.0.0.0' || host === 'localhost' ? service : host}:${port}`;
        return addresses.has(key) ? address(key) : match;
      });
      return addressed.startsWith('/') ? localPath(service, addressed) : addressed;
    }
    if (Array.isArray(value)) return value.map((item) => render(service, item));
    if (value && typeof value === 'object') {
      const object = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(service, v)]));
      // The Collector's own metrics reader names host and port apart.
      if (typeof object.host === 'string' && typeof object.port === 'number') {
        const [host, port] = address(`${service}:${object.port}`).split(':');
        object.host = host;
        object.port = Number(port);
      }
      return object;
    }
    return value;
  };
  const write = (service: string, name: string, document: unknown) => {
    mkdirSync(join(scratch, service), { recursive: true });
    const file = join(scratch, service, name);
    writeFileSync(file, YAML.stringify(document, { aliasDuplicateObjects: false }));
    return file;
  };
  // A service's compose flags, with --config.file (or --config) pointing at the rendered copy.
  const flags = (service: string, config?: string) => {
    const rendered = (compose.services[service].command as string[]).map((flag) => {
      const [name, value] = flag.split(/=(.*)/s) as [string, string | undefined];
      if (config && (name === '--config.file' || name === '--config')) return `${name}=${config}`;
      return value?.startsWith('/') ? `${name}=${localPath(service, value)}` : flag;
    });
    return options.flags?.[service]?.(rendered) ?? rendered;
  };
  // Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` in a service's environment, then its addresses.
  const variables: Record<string, string> = { ...TEST_ENVIRONMENT, ...options.environment };
  const environmentOf = (service: string): Record<string, string> =>
    Object.fromEntries(
      Object.entries<string>(compose.services[service].environment ?? {}).map(([name, value]) => {
        const interpolated = String(value).replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_match, variable: string, operator?: string, argument?: string) => {
          const given = variables[variable];
          if (given) return given;
          if (operator === '-') return argument!;
          if (operator === '?') throw new Error(`${service}: ${variable} has no value (${argument}); pass it in StackOptions.environment`);
          return '';
        });
        return [name, render(service, interpolated) as string];
      }),
    );

  const collector = render('otel-collector', loadYaml('collector/config.yaml')) as any;
  // The host's / is the default root: compose mounts it at /hostfs, here the receiver reads it directly.
  if (collector.receivers?.host_metrics?.root_path === '/') delete collector.receivers.host_metrics.root_path;
  const prometheus = render('prometheus', loadYaml('prometheus/prometheus.yml')) as any;
  if (options.ruleFiles) prometheus.rule_files = options.ruleFiles;
  options.prometheusConfig?.(prometheus);
  const alertmanager = render('alertmanager', loadYaml('alertmanager/alertmanager.yml'));
  options.alertmanagerConfig?.(alertmanager);
  for (const service of ['prometheus', 'alertmanager']) {
    for (const [, source] of pathsOf(service)) if (source.startsWith(scratch)) mkdirSync(source, { recursive: true });
  }

  const programs: Record<string, Program> = {
    'otel-collector': {
      binary: stackBinary('otelcol-lookout'),
      args: flags('otel-collector', write('otel-collector', 'config.yaml', collector)),
      ready: `http://${address('otel-collector:13133')}/`,
      output: '',
    },
    prometheus: {
      binary: stackBinary('prometheus'),
      args: [...flags('prometheus', write('prometheus', 'prometheus.yml', prometheus)), `--web.listen-address=${address('prometheus:9090')}`],
      ready: `http://${address('prometheus:9090')}/-/ready`,
      output: '',
    },
    alertmanager: {
      binary: stackBinary('alertmanager'),
      args: [...flags('alertmanager', write('alertmanager', 'alertmanager.yml', alertmanager)), `--web.listen-address=${address('alertmanager:9093')}`],
      ready: `http://${address('alertmanager:9093')}/-/ready`,
      output: '',
    },
  };
  if (options.exporters) {
    programs['blackbox-exporter'] = {
      binary: stackBinary('blackbox-exporter'),
      args: [...flags('blackbox-exporter'), `--web.listen-address=${address('blackbox-exporter:9115')}`],
      ready: `http://${address('blackbox-exporter:9115')}/metrics`,
      output: '',
    };
    programs['postgres-exporter'] = {
      binary: stackBinary('postgres-exporter'),
      args: [...flags('postgres-exporter'), `--web.listen-address=${address('postgres-exporter:9187')}`],
      ready: `http://${address('postgres-exporter:9187')}/metrics`,
      output: '',
    };
  }

  const startService = async (service: string) => {
    const program = programs[service]!;
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...environmentOf(service) };
    const child = spawn(program.binary, program.args, { cwd: scratch, env, stdio: ['ignore', 'pipe', 'pipe'] });
    program.child = child;
    const collect = (chunk: Buffer) => (program.output = (program.output + chunk.toString()).slice(-200_000));
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    let exited = false;
    child.once('exit', () => (exited = true));
    await eventually(`${service} ready at ${program.ready}`, async () => {
      if (exited) throw new Error(`${service} exited at start:\n${program.output.slice(-4000)}`);
      return fetch(program.ready).then((res) => res.ok, () => false);
    }, 60_000);
  };
  const stopService = async (service: string) => {
    const child = programs[service]!.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const stop = async () => {
    await Promise.all(Object.keys(programs).map(stopService));
    rmSync(scratch, { recursive: true, force: true });
  };

  try {
    // Alertmanager and Prometheus first: the Collector exports to Prometheus from its first second.
    await startService('alertmanager');
    await startService('prometheus');
    await startService('otel-collector');
    if (options.exporters) {
      await ensureMonitorRole(variables.MONITOR_DB_PASSWORD!);
      await startService('blackbox-exporter');
      await startService('postgres-exporter');
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    address,
    otlpEndpoint: `http://${address('otel-collector:4317')}`,
    prometheusUrl: `http://${address('prometheus:9090')}`,
    alertmanagerUrl: `http://${address('alertmanager:9093')}`,
    output: (service) => programs[service]?.output ?? '',
    stopService,
    startService,
    stop,
  };
}

/**
 * postgres-exporter's login on the test server, made as compose makes it (postgres/init/03-monitoring.sh,
 * run with psql) when the server does not have it yet.
 */
async function ensureMonitorRole(password: string): Promise<void> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  let present: boolean;
  try {
    present = (await client.query("select 1 from pg_roles where rolname = 'lookout_monitor'")).rowCount === 1;
  } finally {
    await client.end();
  }
  if (present) return;
  const server = new URL(SERVER_URL);
  execFileSync('sh', [repo('postgres/init/03-monitoring.sh')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      PATH: process.env.PATH,
      PGHOST: server.hostname,
      PGPORT: server.port || '5432',
      ...(server.password ? { PGPASSWORD: decodeURIComponent(server.password) } : {}),
      POSTGRES_USER: decodeURIComponent(server.username) || 'postgres',
      POSTGRES_DB: server.pathname.slice(1) || 'postgres',
      MONITOR_DB_PASSWORD: password,
    },
  });
}
