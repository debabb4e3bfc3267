// What the sink counted for one variant: snapshots, their differences, and waiting until it has everything.
import { sleep, type Counts, type Signals, type Support, type Variant } from './harness.js';

/** The sink has everything once nothing new arrived for this long (or the process exited after flushing). */
export const QUIET_MS = 1500;
const GIVE_UP_MS = 60_000;

export const NONE: Signals = { traces: 0, metrics: 0, logs: 0 };

export function of(counts: Counts, v: Variant): Signals {
  return counts.byService[v.serviceName] ?? NONE;
}

export function minus(a: Signals, b: Signals): Signals {
  return { traces: a.traces - b.traces, metrics: a.metrics - b.metrics, logs: a.logs - b.logs };
}

export function plus(a: Signals, b: Signals): Signals {
  return { traces: a.traces + b.traces, metrics: a.metrics + b.metrics, logs: a.logs + b.logs };
}

function total(s: Signals): number {
  return s.traces + s.metrics + s.logs;
}

/**
 * Polls the sink until the variant's counts stop growing: for QUIET_MS once `minMs` have passed (a partial
 * batch waits up to the batch delay before it is exported), or as soon as the process has exited (it
 * flushed first).
 */
export async function settled(support: Support, v: Variant, until: { minMs: number; exit?: Promise<void> }): Promise<Counts> {
  let gone = false;
  void until.exit?.then(() => (gone = true));
  const start = performance.now();
  let last = await support.counts();
  let stableSince = start;
  for (;;) {
    await sleep(250);
    const wasGone = gone;
    const now = await support.counts();
    if (total(of(now, v)) !== total(of(last, v))) stableSince = performance.now();
    last = now;
    const elapsed = performance.now() - start;
    if (wasGone || (elapsed >= until.minMs && performance.now() - stableSince >= QUIET_MS)) return last;
    if (elapsed > GIVE_UP_MS) {
      console.error(`bench:agent: ${v.id} still delivering ${GIVE_UP_MS / 1000} s after the load stopped; counting what arrived`);
      return last;
    }
  }
}
