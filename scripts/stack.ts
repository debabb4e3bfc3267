// `./lookout stack`: the stack without Docker, on loopback. The Collector, Prometheus and Alertmanager built
// from their Go modules (scripts/build-stack.sh) run the committed configuration, rendered only for addresses
// and paths; the audit API and the example services start with the agent preloaded and export to the
// Collector; the traffic generator carries load. Prints where to query each, and stops everything on Ctrl-C.
import { spawn } from 'node:child_process';
import { EXAMPLES_DIR, examplePorts, PRELOAD, startExampleSystem, startStack, stackVersions } from '@lookout/testkit';

const versions = stackVersions();
// The services' ports first, so the blackbox exporter's probes (prometheus.yml) reach them.
const { ports, elsewhere } = await examplePorts();
const stack = await startStack({ exporters: true, elsewhere });
const system = await startExampleSystem({ otlpEndpoint: stack.otlpEndpoint, ports }).catch(async (err: unknown) => {
  await stack.stop();
  throw err;
});
const traffic = spawn(process.execPath, [...PRELOAD, 'dist/src/traffic.js', 'run', '--rps', '5'], {
  cwd: EXAMPLES_DIR,
  env: { PATH: process.env.PATH, ...system.common, OTEL_SERVICE_NAME: 'traffic', GATEWAY_URL: system.gateway.url },
  stdio: 'ignore',
});

const lines = [
  `OpenTelemetry Collector ${versions.COLLECTOR_VERSION}  OTLP/gRPC ${stack.otlpEndpoint}, OTLP/HTTP http://${stack.address('otel-collector:4318')}, own metrics http://${stack.address('otel-collector:8888')}/metrics`,
  `Prometheus ${versions.PROMETHEUS_VERSION}             ${stack.prometheusUrl}/api/v1/query?query=service:http_server_errors:ratio_rate5m  (API only: built without the web UI)`,
  `Alertmanager ${versions.ALERTMANAGER_VERSION}           ${stack.alertmanagerUrl}/api/v2/alerts`,
  `postgres_exporter ${versions.POSTGRES_EXPORTER_VERSION}       http://${stack.address('postgres-exporter:9187')}/metrics  (PostgreSQL as lookout_monitor)`,
  `blackbox_exporter ${versions.BLACKBOX_EXPORTER_VERSION}       http://${stack.address('blackbox-exporter:9115')}  (probes every service's /health, /health/db, /health/dependencies)`,
  `audit API                     ${system.auditApi.url}`,
  `gateway                       ${system.gateway.url}  (x-api-key: demo-key-acme)`,
  `runs, worker                  ${system.runs.url}, ${system.worker.url}`,
  'traffic generator             5 req/s through the gateway',
  '',
  'Loki and Tempo are not run here: their Go modules are AGPL-3.0, which this project\'s build machines may',
  'not fetch. The Collector still runs its logs and traces pipelines and retries them; docker compose runs both.',
  'Ctrl-C stops everything.',
];
console.log(lines.join('\n'));

let stopping = false;
const stopAll = async () => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping…');
  traffic.kill('SIGTERM');
  await system.stop();
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', stopAll);
process.on('SIGTERM', stopAll);
// Runs until a signal, whatever the children do.
setInterval(() => {}, 1 << 30);
