// OTEL_PROPAGATORS as one text map propagator: W3C Trace Context and Baggage from the SDK's core (the
// default), B3 single-header and multi-header from @opentelemetry/propagator-b3, loaded only when named.
import type { TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import type { PropagatorName } from './config.js';

/** The propagator for `names` in their order, or null for none (the API's no-op: nothing read, nothing sent). */
export async function buildPropagator(names: PropagatorName[]): Promise<TextMapPropagator | null> {
  if (names.length === 0) return null;
  const b3 = names.includes('b3') || names.includes('b3multi') ? await import('@opentelemetry/propagator-b3') : undefined;
  const propagators = names.map((name): TextMapPropagator => {
    switch (name) {
      case 'tracecontext':
        return new W3CTraceContextPropagator();
      case 'baggage':
        return new W3CBaggagePropagator();
      // Both read either B3 form from an incoming request; they differ in what they send.
      case 'b3':
        return new b3!.B3Propagator();
      case 'b3multi':
        return new b3!.B3Propagator({ injectEncoding: b3!.B3InjectEncoding.MULTI_HEADER });
    }
  });
  return propagators.length === 1 ? propagators[0]! : new CompositePropagator({ propagators });
}
