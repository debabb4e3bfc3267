// The audit API's own instruments, through the OpenTelemetry API: the preloaded agent exports them; without
// it they are no-ops. Names follow DESIGN.md (lookout.<component>.<thing>, with a unit); catalogue in docs/metrics.md.
import { metrics, type Counter, type Histogram, type UpDownCounter } from '@opentelemetry/api';

export interface AuditMetrics {
  eventsWritten: Counter;
  writeFailures: Counter;
  writeDuration: Histogram;
  batchSize: Histogram;
  streamSubscribers: UpDownCounter;
  streamLag: Histogram;
  streamDisconnects: Counter;
  retentionRowsRemoved: Counter;
  authFailures: Counter;
  previousKeyUses: Counter;
  selfAuditDropped: Counter;
  sealLag: Histogram;
  sealedEvents: Counter;
  verifyProblems: Counter;
}

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(): AuditMetrics {
  const meter = metrics.getMeter('@lookout/audit-api');
  return {
    eventsWritten: meter.createCounter('lookout.audit.events.written', { unit: '{event}', description: 'Activity events stored (retries of a stored id not counted), by action and status.' }),
    writeFailures: meter.createCounter('lookout.audit.write.failures', { unit: '{request}', description: 'Write requests that stored nothing, by reason.' }),
    writeDuration: meter.createHistogram('lookout.audit.write.duration', { unit: 's', description: 'Time to validate and commit one write request.', advice: { explicitBucketBoundaries: SECONDS } }),
    batchSize: meter.createHistogram('lookout.audit.batch.size', { unit: '{event}', description: 'Events per write request.', advice: { explicitBucketBoundaries: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000] } }),
    streamSubscribers: meter.createUpDownCounter('lookout.audit.stream.subscribers', { unit: '{subscriber}', description: 'Open SSE streams on this replica.' }),
    streamLag: meter.createHistogram('lookout.audit.stream.lag', { unit: 's', description: 'From an event being received to its delivery to stream subscribers.', advice: { explicitBucketBoundaries: SECONDS } }),
    streamDisconnects: meter.createCounter('lookout.audit.stream.disconnects', { unit: '{subscriber}', description: 'Streams closed by the server, by reason (slow_consumer, shutdown).' }),
    retentionRowsRemoved: meter.createCounter('lookout.audit.retention.rows_removed', { unit: '{event}', description: 'Events removed by retention (dropped partitions and trimmed rows).' }),
    authFailures: meter.createCounter('lookout.audit.auth.failures', { unit: '{request}', description: 'Requests refused for their token or scope, by reason.' }),
    previousKeyUses: meter.createCounter('lookout.audit.previous_key.uses', { unit: '{request}', description: 'Requests whose token (key=jwt_secret) or page cursor (key=cursor_key) verified only with the previous key of a rotation; at zero, the previous key can be removed.' }),
    selfAuditDropped: meter.createCounter('lookout.audit.self_audit.dropped', { unit: '{event}', description: "The API's own audit events (rejected tokens) dropped because their queue was full or the database down." }),
    sealLag: meter.createHistogram('lookout.audit.seal.lag', { unit: 's', description: 'From an event being received to its seal in the hash chain (the oldest event of each sealed batch).', advice: { explicitBucketBoundaries: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] } }),
    sealedEvents: meter.createCounter('lookout.audit.seal.events', { unit: '{event}', description: 'Events appended to their tenant\'s hash chain by this replica.' }),
    verifyProblems: meter.createCounter('lookout.audit.verify.problems', { unit: '{problem}', description: 'Problems found by GET /api/v1/activity/verify, by kind (modified, missing, inserted, reordered, bad_signature).' }),
  };
}
