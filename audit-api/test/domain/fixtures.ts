// Shared by the domain tests: a valid event body to vary, and an assertion on the ApiError a parser throws.
import assert from 'node:assert/strict';
import { ApiError } from '../../src/domain/errors.js';

export function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { action: 'auth.login.success', status: 'success', actor: { type: 'user', id: 'u-1' }, metadata: { method: 'password', mfa: true }, ...overrides };
}

/** Asserts that `fn` throws an ApiError with this status, code and field. */
export function rejects(fn: () => unknown, status: number, code: string, field: string | undefined): ApiError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.deepEqual({ status: err.status, code: err.code, field: err.field }, { status, code, field }, err.message);
    return err;
  }
  assert.fail(`expected ${status} ${code}`);
}
