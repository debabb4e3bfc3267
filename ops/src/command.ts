// How each ops entry starts and ends: the agent's logger, the config loaded (a ConfigError logs its message and
// sets exit code 2), then the work; anything it throws is logged with exit code 1. No process.exit: the
// preloaded agent exports the last metrics when the event loop runs dry.
import { createLogger } from '@lookout/agent';
import { ConfigError } from './config.js';

/** The agent's logger (winston), as createLogger() makes it. */
export type Logger = ReturnType<typeof createLogger>;

export function runCommand<C>(component: string, load: () => C, work: (config: C, logger: Logger) => Promise<void>): void {
  const logger = createLogger({ defaultMeta: { component } });
  let config: C;
  try {
    config = load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger.error(`configuration error: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  work(config, logger).catch((err: unknown) => {
    logger.error(`${component} stopped on an unexpected error`, { err });
    process.exitCode = 1;
  });
}
