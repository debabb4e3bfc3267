// Process lifecycle: flush telemetry on SIGTERM/SIGINT, at natural exit and before a crash, then let the
// process end exactly as it would have without the agent.
import { inspect } from 'node:util';
import { logs, SeverityNumber, trace } from '@opentelemetry/api';
import type { RunningSdk } from './sdk.js';
import { agentState } from './state.js';

export interface LifecycleOptions {
  /** LOOKOUT_SHUTDOWN_TIMEOUT_MS: how long an exit waits for the flush. */
  timeoutMillis: number;
  /** For the fatal line on stderr. */
  serviceName: string;
}

const FATAL_FLUSH_LIMIT_MS = 2000;

export function installLifecycle(sdk: RunningSdk, { timeoutMillis, serviceName }: LifecycleOptions): void {
  const life = { ...withRegisteredFlushers(sdk, timeoutMillis), timeoutMillis };
  let shutdownStarted: Promise<void> | undefined;
  let shutdownSettled = false;
  // A flush started when the app took a signal itself, and when its bound runs out.
  let signalFlush: { done: Promise<void>; settled: boolean; deadline: number } | undefined;
  // The exporters never hold the event loop (loop-release.ts): the last flush holds it here, for at most
  // the bound, and then the process ends whatever the collector does. Within a bound that began at a signal
  // the app handled, the shutdown waits for that flush first: the batch processors skip a flush requested
  // while one runs, so records the app's handler wrote meanwhile would otherwise be left behind.
  const shutdownOnce = () => {
    const flushing = signalFlush && !signalFlush.settled ? signalFlush : undefined;
    const work = (flushing ? flushing.done : Promise.resolve()).then(() => life.shutdown()).finally(() => (shutdownSettled = true));
    return (shutdownStarted ??= bounded(work, flushing ? Math.max(0, flushing.deadline - Date.now()) : life.timeoutMillis, { holdLoop: true }));
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      const appHandles = process.listenerCount(signal) - 1 - signalExitListeners() > 0;
      if (appHandles) {
        // The app owns this signal (graceful drain, its own exit). Flush what we have and keep going;
        // beforeExit stops the SDK if the app lets the loop drain.
        if (signalFlush && !signalFlush.settled) return;
        const flush = { done: bounded(life.flush(), life.timeoutMillis), settled: false, deadline: Date.now() + life.timeoutMillis };
        void flush.done.then(() => (flush.settled = true));
        signalFlush = flush;
        return;
      }
      if (shutdownStarted) return reraise(signal, onSignal); // a second signal: stop waiting
      void shutdownOnce().then(() => reraise(signal, onSignal));
    };
    process.on(signal, onSignal);
  }

  // The event loop ran dry: the app is ending on its own. Stopping the SDK adds work (the last export),
  // after which beforeExit fires again and the process exits with the app's own code; if the flush has not
  // finished by the bound (a hung collector), exit anyway, with that code, as the app would have by now.
  process.on('beforeExit', () => {
    if (shutdownStarted) return;
    void shutdownOnce().then(() => {
      if (!shutdownSettled) process.exit();
    });
  });

  process.on('uncaughtExceptionMonitor', (error, origin) => {
    try {
      recordFatal(error, origin, serviceName);
    } catch {
      // never let telemetry turn one crash into two
    }
  });

  // With --abort-on-uncaught-exception, any listener would stop Node from aborting (and dumping core).
  if (process.execArgv.includes('--abort-on-uncaught-exception')) return;
  let crashing = false;
  const onUncaught = (error: unknown, origin: string) => {
    if (process.listenerCount('uncaughtException') > 1) return; // the app decides what happens
    printLikeNode(error, origin);
    // A second fatal error while flushing the first: stop now.
    if (crashing) process.exit(1);
    crashing = true;
    // We are the only listener, so Node would now print the error and exit with code 1. Do that,
    // after a short bounded flush, so the crash and its trace reach the collector.
    process.exitCode = 1;
    void bounded(life.shutdown(), Math.min(life.timeoutMillis, FATAL_FLUSH_LIMIT_MS)).finally(() => process.exit(1));
  };
  process.on('uncaughtException', onUncaught);
}

/** The SDK's flush and shutdown, with the buffers registered in agentState().flushers flushed alongside. */
function withRegisteredFlushers(sdk: RunningSdk, timeoutMillis: number): RunningSdk {
  const others = () =>
    Array.from(agentState().flushers, (flush) => Promise.resolve().then(() => flush(timeoutMillis)).catch(() => undefined));
  return {
    shutdown: () => Promise.allSettled([...others(), sdk.shutdown()]).then(() => undefined),
    flush: () => Promise.allSettled([...others(), sdk.flush()]).then(() => undefined),
  };
}

/** A fatal error on the active span, as a FATAL log record with its stack, and as a JSON line on stderr. */
function recordFatal(error: unknown, origin: string, serviceName: string): void {
  const err = error instanceof Error ? error : new Error(String(error));
  const span = trace.getActiveSpan();
  span?.recordException(err);
  logs.getLogger('@lookout/agent').emit({
    severityNumber: SeverityNumber.FATAL,
    severityText: 'FATAL',
    body: `${origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception'}: ${err.message}`,
    attributes: {
      'exception.type': err.name,
      'exception.message': err.message,
      'exception.stacktrace': err.stack ?? '',
    },
  });
  const spanContext = span?.spanContext();
  process.stderr.write(
    `${JSON.stringify({
      timestamp: new Date().toISOString(),
      level: 'fatal',
      message: `${origin}: ${err.message}`,
      'service.name': serviceName,
      ...(spanContext ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {}),
      'exception.type': err.name,
      'exception.stacktrace': err.stack,
    })}\n`,
  );
}

function reraise(signal: NodeJS.Signals, listener: () => void): void {
  process.removeListener(signal, listener);
  // With no listener left, the default action applies: the process dies by the signal, as without us.
  process.kill(process.pid, signal);
}

/** `work`, or nothing once `timeoutMillis` have passed; with holdLoop the wait keeps the process alive. */
function bounded(work: Promise<void>, timeoutMillis: number, { holdLoop = false } = {}): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMillis);
    if (!holdLoop) timer.unref();
  });
  return Promise.race([work.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
}

/** Listeners the signal-exit package added: it re-raises the signal only when it counts as the sole owner. */
function signalExitListeners(): number {
  const holder = globalThis as typeof globalThis & { [key: symbol]: { count?: number } | undefined };
  const legacy = (process as unknown as { __signal_exit_emitter__?: { count?: number } }).__signal_exit_emitter__;
  return (holder[Symbol.for('signal-exit emitter')]?.count ?? 0) > 0 || (legacy?.count ?? 0) > 0 ? 1 : 0;
}

function printLikeNode(error: unknown, origin: string): void {
  // util.inspect, as Node does: the stack plus the error's own properties (code, errno, cause…).
  const text =
    error instanceof Error
      ? inspect(error)
      : origin === 'unhandledRejection'
        ? `[UnhandledPromiseRejection: This error originated either by throwing inside of an async function without a catch block, or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason "${String(error)}".]`
        : `Uncaught ${String(error)}`;
  process.stderr.write(`${text}\n\nNode.js ${process.version}\n`);
}
