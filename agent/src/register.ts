// The --import entry: `node --import @lookout/agent/register app.js`. Installs the ESM hook, starts the
// SDK and the lifecycle handlers, and nothing else. With OTEL_SDK_DISABLED=true it loads nothing more.
import { isMainThread } from 'node:worker_threads';
import { dropInvalidExporterEnv, loadConfig } from './config.js';
import { warn } from './warn.js';

const config = loadConfig();

// Worker threads inherit --import. The main thread's agent already reports the process; a second SDK per
// worker would double the process metrics and take over the worker's crash handling.
if (!config.disabled && isMainThread) {
  try {
    await start();
  } catch (err) {
    // The app must run even when its telemetry cannot.
    warn(`telemetry is off: the agent failed to start (${(err as Error).stack ?? String(err)})`);
  }
}

async function start(): Promise<void> {
  dropInvalidExporterEnv();

  const [{ planInstrumentations }, { installEsmHook }, { installRequestIds }] = await Promise.all([
    import('./instrumentations.js'),
    import('./esm-hook.js'),
    import('./request-id.js'),
  ]);
  const plan = planInstrumentations(config);
  await installEsmHook(plan.esmModules);
  installRequestIds({ responseHeaders: config.responseHeaders });

  const [{ startSdk }, { installLifecycle }, { agentState }] = await Promise.all([
    import('./sdk.js'),
    import('./lifecycle.js'),
    import('./state.js'),
  ]);
  const sdk = await startSdk(config, plan);
  Object.assign(agentState(), { started: true, serviceName: config.serviceName, logsEnabled: config.signals.has('logs') });
  installLifecycle(sdk, { timeoutMillis: config.shutdownTimeoutMillis, serviceName: config.serviceName });
}
