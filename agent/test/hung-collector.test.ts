// A collector that hangs (accepts and never answers) must not hold the app: at SIGTERM, SIGINT or a natural
// end, the flush is bounded by LOOKOUT_SHUTDOWN_TIMEOUT_MS and the process then ends as it would have.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { OtlpReceiver, type RunningApp } from '@lookout/testkit';
import { spawnApp } from './fixtures/spawn-app.js';

const BOUND_MS = 1000;
// Exit must come within the bound plus this (process teardown, a loaded 2-core machine).
const SLACK_MS = 1000;

interface Fault {
  endpoint: string;
  /** True once the agent has sent the collector anything: an export is then in flight. */
  contacted(): boolean;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 and closes with everything it accepted destroyed. */
async function listening(server: net.Server, accepted: Set<{ destroy(): void }>): Promise<{ endpoint: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => {
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Accepts TCP connections and never writes a byte: a hung proxy or a stalled load balancer. */
async function blackHole(): Promise<Fault> {
  let bytes = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => (bytes += chunk.length));
    socket.on('error', () => undefined);
  });
  return { ...(await listening(server, sockets)), contacted: () => bytes > 0 };
}

/** Speaks HTTP/2, accepts every stream (every gRPC call) and never answers it. */
async function silentHttp2(): Promise<Fault> {
  let streams = 0;
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on('session', (session) => sessions.add(session));
  server.on('stream', (stream) => {
    streams++;
    stream.on('error', () => undefined);
  });
  return { ...(await listening(server as unknown as net.Server, sessions)), contacted: () => streams > 0 };
}

/** A real OTLP/gRPC collector that answers every export after 30 s, behind a proxy that notes the first bytes. */
async function slowCollector(): Promise<Fault> {
  const receiver = new OtlpReceiver({ delayMs: 30_000, keep: false });
  await receiver.start();
  let bytes = 0;
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(receiver.port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => (bytes += chunk.length));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  const listener = await listening(proxy, sockets);
  return {
    endpoint: listener.endpoint,
    // Past the HTTP/2 preface and settings: a call's headers and body have gone out.
    contacted: () => bytes > 200,
    close: async () => {
      await listener.close();
      await receiver.stop();
    },
  };
}

const FAULTS = { 'a black-hole TCP server': blackHole, 'an HTTP/2 server that never answers a stream': silentHttp2, 'a collector that answers after 30 s': slowCollector };

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends requests back to back on a few connections until the app is gone. */
function keepLoading(app: RunningApp): { stop(): Promise<number> } {
  let running = true;
  let served = 0;
  const worker = async () => {
    while (running && app.child.exitCode === null && app.child.signalCode === null) {
      try {
        await (await fetch(`${app.url}/load`)).text();
        served++;
      } catch {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return served;
    },
  };
}

function spawnAgainst(fault: Fault, env: Record<string, string> = {}): Promise<RunningApp> {
  return spawnApp('shutdown-app.mjs', {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: fault.endpoint,
      LOOKOUT_SHUTDOWN_TIMEOUT_MS: String(BOUND_MS),
      // Exports start within a second, and each waits far longer than the bound.
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BLRP_SCHEDULE_DELAY: '200',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_EXPORTER_OTLP_TIMEOUT: '30000',
      ...env,
    },
  });
}

async function timeToExit(app: RunningApp, signal: NodeJS.Signals) {
  const started = Date.now();
  app.child.kill(signal);
  const exit = await Promise.race([
    app.exited,
    new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), BOUND_MS + SLACK_MS + 10_000).unref()),
  ]);
  return { exit, ms: Date.now() - started };
}

/** Serves a request, waits until an export is in flight, then sends `signal` and checks how and when the app ends. */
async function exitsWithinBound(
  fault: Fault,
  { env = {}, signal = 'SIGTERM', load = 'idle', expected }: { env?: Record<string, string>; signal?: NodeJS.Signals; load?: 'idle' | 'under load'; expected: { code: number | null; signal: NodeJS.Signals | null } },
): Promise<void> {
  const app = await spawnAgainst(fault, env);
  try {
    await (await fetch(`${app.url}/first`)).text();
    await until('an export in flight', fault.contacted);
    const loading = load === 'under load' ? keepLoading(app) : undefined;
    if (loading) await until('requests served under load', () => app.lines.length > 20);
    const { exit, ms } = await timeToExit(app, signal);
    await loading?.stop();
    assert.deepEqual(exit, expected, `stderr:\n${app.stderr()}`);
    assert.ok(ms <= BOUND_MS + SLACK_MS, `exited ${ms} ms after ${signal} (bound ${BOUND_MS} ms)`);
  } finally {
    await app.stop('SIGKILL');
  }
}

const KILLED_BY = (signal: NodeJS.Signals) => ({ code: null, signal });
const OWN_EXIT = { code: 0, signal: null };

describe('a collector that hangs does not hold the app', function () {
  this.timeout(60_000);

  for (const [name, makeFault] of Object.entries(FAULTS)) {
    describe(`with ${name}`, () => {
      let fault: Fault;
      beforeEach(async () => (fault = await makeFault()));
      afterEach(async () => fault.close());

      for (const load of ['idle', 'under load'] as const) {
        it(`an app without a signal handler dies by SIGTERM within the bound, ${load}`, () =>
          exitsWithinBound(fault, { load, expected: KILLED_BY('SIGTERM') }));

        it(`an app that drains on SIGTERM itself exits with its own code within the bound, ${load}`, () =>
          exitsWithinBound(fault, { load, env: { OWN_SIGNAL_HANDLER: '1' }, expected: OWN_EXIT }));
      }

      it('an app without a signal handler dies by SIGINT within the bound', () =>
        exitsWithinBound(fault, { signal: 'SIGINT', expected: KILLED_BY('SIGINT') }));

      it('an app that ends on its own exits within the bound of its end', async () => {
        const app = await spawnAgainst(fault, { EXIT_AFTER_MS: '1500' });
        try {
          await (await fetch(`${app.url}/first`)).text();
          const started = Date.now();
          const exit = await Promise.race([app.exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000).unref())]);
          assert.deepEqual(exit, OWN_EXIT);
          assert.ok(fault.contacted(), 'an export was in flight when the app ended');
          // Its server closes 1.5 s after start; the request above came some time after that start.
          assert.ok(Date.now() - started <= 1500 + BOUND_MS + SLACK_MS, `exited ${Date.now() - started} ms after the app's last request`);
        } finally {
          await app.stop('SIGKILL');
        }
      });
    });
  }

  for (const protocol of ['http/protobuf', 'http/json']) {
    it(`exports over ${protocol} do not hold an app that drains on SIGTERM either`, async () => {
      const fault = await blackHole();
      try {
        await exitsWithinBound(fault, { env: { OWN_SIGNAL_HANDLER: '1', OTEL_EXPORTER_OTLP_PROTOCOL: protocol }, expected: OWN_EXIT });
      } finally {
        await fault.close();
      }
    });
  }
});
