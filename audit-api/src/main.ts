// Process entry: load the config, start the service, stop it on SIGTERM/SIGINT.
import { createLogger } from '@lookout/agent';
import { ConfigError, loadConfig } from './config.js';
import { startService } from './service.js';

const logger = createLogger({ defaultMeta: { component: 'audit-api' } });

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger.error(`configuration error: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  const service = await startService(config, logger);
  const shutdown = (signal: string) => {
    logger.info('shutting down', { signal });
    void service.stop();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  await service.ready;
}

main().catch((err) => {
  logger.error('audit-api failed to start', { err });
  process.exitCode = 1;
});
