// How a failed database call is recorded on its span and metric: error.type, db.response.status_code, an
// error status and an exception event, without letting query values through.
//
// Some PostgreSQL messages quote the offending value (class 22, data exceptions: `invalid input syntax for
// type integer: "…"`), and a PL/pgSQL RAISE (P0001) says whatever the function put in it: for those the
// message becomes "PostgreSQL error <code>". Other messages name only objects (relations, columns,
// constraints) and are kept: they are what an on-call engineer needs. No stack trace is recorded (upstream
// records none either): for a pg error it shows the protocol parser, and its first line repeats the message.
import { SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';

const SQLSTATE = /^[0-9A-Z]{5}$/;

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
}

/** The SQLSTATE of a PostgreSQL error, if it has one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as ErrorLike | null)?.code;
  return typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
}

/** error.type: the SQLSTATE, else a system error code (ECONNREFUSED…), else the error's class name. */
export function errorType(err: unknown): string {
  const e = err as ErrorLike | null;
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  const ctor = (e as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  if (typeof ctor === 'string' && ctor !== '' && ctor !== 'Object') return ctor;
  return '_OTHER';
}

/** The message safe to export, or undefined when there is none. */
export function safeMessage(err: unknown, message = (err as ErrorLike | null)?.message): string | undefined {
  const state = sqlState(err);
  if (state !== undefined && (state.startsWith('22') || state === 'P0001')) return `PostgreSQL error ${state}`;
  return typeof message === 'string' && message !== '' ? message : undefined;
}

/**
 * Marks `span` failed and adds error.type (and db.response.status_code for a database error) to both the
 * span and `metricAttributes`. `message` overrides the error's own (knex prefixes the query to it).
 */
export function recordDbError(span: Span, err: unknown, metricAttributes: Attributes, message?: string): void {
  const type = errorType(err);
  const state = sqlState(err);
  metricAttributes['error.type'] = type;
  if (state !== undefined) metricAttributes['db.response.status_code'] = state;
  if (!span.isRecording()) return;
  const text = safeMessage(err, message ?? (err as ErrorLike | null)?.message);
  span.setAttribute('error.type', type);
  if (state !== undefined) span.setAttribute('db.response.status_code', state);
  const ctor = (err as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  const exception: Attributes = { 'exception.type': typeof ctor === 'string' && ctor !== '' ? ctor : type };
  if (text !== undefined) exception['exception.message'] = text;
  span.addEvent('exception', exception);
  span.setStatus(text === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message: text });
}
