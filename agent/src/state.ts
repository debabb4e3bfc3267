// What the preloaded agent tells the library half of the package (createLogger and friends).
// Kept on globalThis: an app may reach this package through require() and import alike.
const kState = Symbol.for('lookout.agent.state');

export interface AgentState {
  /** True once register has started the SDK. */
  started: boolean;
  serviceName: string;
  /** True when OTLP log export is on, so loggers should carry the OpenTelemetry transport. */
  logsEnabled: boolean;
}

export function agentState(): AgentState {
  const holder = globalThis as typeof globalThis & { [kState]?: AgentState };
  holder[kState] ??= {
    started: false,
    serviceName: process.env.OTEL_SERVICE_NAME?.trim() || 'unknown_service:node',
    logsEnabled: false,
  };
  return holder[kState];
}
