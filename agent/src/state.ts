// What the preloaded agent tells the library half of the package (createLogger and friends).
// Kept on globalThis: an app may reach this package through require() and import alike.
import { libraryConfig } from './config.js';

const kState = Symbol.for('lookout.agent.state');

export interface AgentState {
  /** True once register has started the SDK. */
  started: boolean;
  serviceName: string;
  /** True when OTLP log export is on, so loggers should carry the OpenTelemetry transport. */
  logsEnabled: boolean;
  /**
   * Buffers of the library half (audit clients) that the preload's lifecycle flushes next to the SDK's,
   * within the same bound, at SIGTERM/SIGINT, natural exit and crash. Each takes the time it may use.
   */
  flushers: Set<(timeoutMillis: number) => Promise<void>>;
}

export function agentState(): AgentState {
  const holder = globalThis as typeof globalThis & { [kState]?: AgentState };
  holder[kState] ??= {
    started: false,
    serviceName: libraryConfig().serviceName,
    logsEnabled: false,
    flushers: new Set(),
  };
  holder[kState].flushers ??= new Set(); // state made by an older copy of this package
  return holder[kState];
}
