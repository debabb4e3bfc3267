// Spawns a Node process (an app with the agent preloaded, a service) and reads its JSON output lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { eventually } from './eventually.js';

export interface RunningApp {
  child: ChildProcess;
  port: number;
  url: string;
  /** Every stdout line, parsed as JSON when it is JSON. */
  lines: Array<Record<string, unknown> | string>;
  stderr: () => string;
  /** Polls the stdout lines until one matches, or fails after `timeoutMs`. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnNodeOptions {
  cwd: string;
  env?: Record<string, string | undefined> | undefined;
  /** For error messages. */
  name: string;
  /** Reads the listening port from a stdout JSON line; resolves once one line gives it. */
  port: (line: Record<string, unknown>) => number | undefined;
  /** How long to wait for the port; default 20 s. */
  startTimeoutMs?: number;
}

/** Spawns `node <args>` (this Node), collects its stdout JSON lines and resolves once it is listening. */
export async function spawnNode(args: string[], options: SpawnNodeOptions): Promise<RunningApp> {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // Fast export cycles so tests see data within a second.
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BLRP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: RunningApp['lines'] = [];
  let stderr = '';
  let partial = '';
  let onPort: (port: number) => void = () => undefined;
  const portKnown = new Promise<number>((resolve) => (onPort = resolve));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let parsed: Record<string, unknown> | string = line;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        // plain text line
      }
      lines.push(parsed);
      if (typeof parsed === 'object' && parsed !== null) {
        const port = options.port(parsed);
        if (port !== undefined) onPort(port);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  const port = await Promise.race([
    portKnown,
    exited.then(({ code, signal }) => {
      throw new Error(`${options.name} exited (code ${code}, signal ${signal}) before listening:\n${stderr}\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
    }),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${options.name} did not listen within ${timeoutMs} ms:\n${stderr}`)), timeoutMs).unref()),
  ]).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    lines,
    stderr: () => stderr,
    waitForLine(match, timeoutMs = 10_000) {
      return eventually(`a matching stdout line of ${options.name}`, () => lines.find((l): l is Record<string, unknown> => typeof l === 'object' && match(l)), timeoutMs).catch((err: Error) => {
        throw new Error(`${err.message}; got:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
      });
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const deadline = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const result = await exited;
      clearTimeout(deadline);
      return result;
    },
  };
}
