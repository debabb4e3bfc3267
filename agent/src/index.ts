// @lookout/agent as a library: the logger, the audit client, service instruments, request ids and the redaction policy.
// The telemetry itself starts from the preload (`--import @lookout/agent/register`), not from here.
export { createLogger, type LoggerOptions } from './logger.js';
export {
  audit,
  createAuditClient,
  type AuditClient,
  type AuditClientOptions,
  type AuditDropReason,
  type AuditRecordOptions,
  type AuditStats,
} from './audit.js';
export { serviceInstruments, PROCESSING_BUCKETS_SECONDS, type PoolStats, type ServiceInstruments } from './instruments.js';
export { currentRequestId, withRequestId, REQUEST_ID_HEADER, REQUEST_ID_PATTERN } from './request-id.js';
export { createRedactionPolicy, redactionPolicy, REDACTED, type RedactionPolicy } from './redact.js';
export { bodyParserError, HttpError, HTTP_ERROR_STATUS, unansweredError, type CommonErrorCode } from './http-errors.js';
