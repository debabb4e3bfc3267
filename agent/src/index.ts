// @lookout/agent as a library: the logger, setUser, the audit client and its wire contract, service instruments, health endpoints, request ids and the redaction policy.
// The telemetry itself starts from the preload (`--import @lookout/agent/register`), not from here.
export { createLogger, type LoggerOptions } from './logger.js';
export { setUser, type EndUser } from './errors-user.js';
export { audit, createAuditClient, type AuditClient, type AuditClientOptions } from './audit/client.js';
export type { AuditRecordOptions } from './audit/record.js';
export type { AuditDropReason, AuditStats } from './audit/stats.js';
export {
  ACTOR_TYPES,
  BATCH_PATH,
  EVENT_STATUSES,
  MAX_BATCH,
  MAX_BATCH_BODY_BYTES,
  MAX_EVENT_BODY_BYTES,
  uuidv7,
  type ActorType,
  type EventStatus,
} from './audit/contract.js';
export {
  createHealth,
  HEALTH_TIMEOUT_MS,
  type DatabaseBody,
  type DependenciesBody,
  type DependencyStatus,
  type Health,
  type HealthCheck,
  type HealthContext,
  type HealthDetail,
  type HealthMiddleware,
  type HealthOptions,
  type LivenessBody,
} from './health.js';
export { serviceInstruments, PROCESSING_BUCKETS_SECONDS, type PoolStats, type ServiceInstruments } from './instruments.js';
export { RateLimiter } from './rate-limiter.js';
export { currentRequestId, withRequestId, REQUEST_ID_HEADER, REQUEST_ID_PATTERN } from './request-id.js';
export { createRedactionPolicy, redactionPolicy, REDACTED, type RedactionPolicy } from './redact.js';
export { bodyParserError, HttpError, HTTP_ERROR_STATUS, unansweredError, type CommonErrorCode } from './http-errors.js';
