// What tests, benchmarks and the demo share: OTLP receivers, a CPU profile reader, process spawning, the example system,
// the audit API's test secrets and tokens, fresh databases, HTTP calls, polling, free ports, and the stack's
// upstream programs on loopback.
export { category, summarise, type CpuProfile, type Entry, type Frame, type Summary, type SummaryOptions } from './cpuprofile.js';
export { eventually } from './eventually.js';
export { examplePorts, startExampleSystem, EXAMPLES_DIR, PRELOAD, type ExamplePorts, type ExampleSystem } from './example-system.js';
export { freePort } from './free-port.js';
export { call, type Reply } from './http.js';
export { createTestDatabase, SERVER_URL, type TestDatabase } from './database.js';
export { OtlpHttpReceiver, type Encoding, type ReceivedRequest } from './otlp-http-receiver.js';
export {
  OtlpReceiver,
  ReceivedTelemetry,
  type Attributes,
  type ReceivedLog,
  type ReceivedMetric,
  type ReceivedPoint,
  type ReceivedSpan,
  type ReceiverOptions,
  type SignalName,
} from './otlp-receiver.js';
export { loadRepoYaml, REPO_ROOT, repoPath } from './repo.js';
export { stackBinary, stackVersions, startStack, type RunningStack, type StackOptions, type StackProgram } from './stack.js';
export { spawnNode, type RunningApp, type SpawnNodeOptions } from './spawn-node.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { IP_HMAC_KEY, JWT_SECRET, token, type TokenOptions } from './tokens.js';
