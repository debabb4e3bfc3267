// bench:agent's fairness fix for the upstream variant, preloaded right after
// @opentelemetry/auto-instrumentations-node/register (whose NodeSDK has started by then):
// @opentelemetry/winston-transport emits through the deprecated @opentelemetry/api-logs global, which
// sdk-node no longer registers, so without this upstream delivers no log records at all. The agent does
// the same in its own sdk.ts (DESIGN, "Facts").
const { logs } = await import('@opentelemetry/api');
const legacy = await import('@opentelemetry/api-logs');
legacy.logs.setGlobalLoggerProvider(logs.getLoggerProvider());
