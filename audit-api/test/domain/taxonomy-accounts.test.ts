// The account, MFA, API key and role actions (issue 15): what their metadata accepts and refuses.
import assert from 'node:assert/strict';
import { parseEvent } from '../../src/domain/event.js';
import { ACTIONS, API_KEY_REJECTION_REASONS, validateMetadata } from '../../src/domain/taxonomy.js';
import { event, rejects } from './fixtures.js';

const KEY_ID = '3f9a0c1d2e4b5a6978877665544332211';

describe('taxonomy: sign-up, accounts, MFA, API keys and roles', () => {
  it('accepts the metadata each new action is documented with', () => {
    validateMetadata('auth.signup', { method: 'invitation', invited_by: 'u-1' });
    validateMetadata('auth.signup', {});
    validateMetadata('auth.account.deleted', { by: 'self' });
    validateMetadata('auth.mfa.enabled', { method: 'webauthn' });
    validateMetadata('auth.mfa.disabled', { method: 'totp', by: 'admin' });
    validateMetadata('auth.mfa.challenged', { method: 'sms', reason: 'wrong_code' });
    validateMetadata('auth.api_key.created', { key_id: KEY_ID, name: 'ci', scopes: ['runs:write'], expires_at: '2027-01-01T00:00:00Z' });
    validateMetadata('auth.api_key.revoked', { key_id: KEY_ID, reason: 'leaked in a build log' });
    validateMetadata('auth.api_key.accepted', { key_id: KEY_ID, method: 'POST', path: '/api/workflows/w/runs' });
    for (const reason of API_KEY_REJECTION_REASONS) validateMetadata('auth.api_key.rejected', { reason, method: 'GET', path: '/api/runs' });
    validateMetadata('auth.api_key.rejected', { reason: 'unknown', key_id: KEY_ID, repeats: 4 });
    validateMetadata('auth.api_key.rate_limited', { key_id: KEY_ID, limit_per_s: 0.5, burst: 10, retry_after_s: 2, repeats: 0 });
    validateMetadata('auth.role.granted', { subject_type: 'user', subject_id: 'u-2', role: 'admin', previous_role: 'member' });
    validateMetadata('auth.role.revoked', { subject_type: 'group', subject_id: 'g-1', role: 'auditor', reason: 'left the team' });
  });

  it('requires what makes each event meaningful, naming the missing field', () => {
    rejects(() => validateMetadata('auth.account.deleted', {}), 400, 'invalid_metadata', 'metadata.by');
    rejects(() => validateMetadata('auth.mfa.enabled', {}), 400, 'invalid_metadata', 'metadata.method');
    rejects(() => validateMetadata('auth.api_key.accepted', {}), 400, 'invalid_metadata', 'metadata.key_id');
    rejects(() => validateMetadata('auth.api_key.rejected', { key_id: KEY_ID }), 400, 'invalid_metadata', 'metadata.reason');
    rejects(() => validateMetadata('auth.api_key.rate_limited', { burst: 1 }), 400, 'invalid_metadata', 'metadata.key_id');
    rejects(() => validateMetadata('auth.role.granted', { subject_type: 'user', subject_id: 'u-2' }), 400, 'invalid_metadata', 'metadata.role');
  });

  it('refuses values outside the closed sets and fields the schema does not name', () => {
    rejects(() => validateMetadata('auth.signup', { method: 'carrier_pigeon' }), 400, 'invalid_metadata', 'metadata.method');
    rejects(() => validateMetadata('auth.mfa.challenged', { method: 'totp', reason: 'bored' }), 400, 'invalid_metadata', 'metadata.reason');
    rejects(() => validateMetadata('auth.api_key.rejected', { reason: 'wrong' }), 400, 'invalid_metadata', 'metadata.reason');
    rejects(() => validateMetadata('auth.role.granted', { subject_type: 'robot', subject_id: 'r', role: 'x' }), 400, 'invalid_metadata', 'metadata.subject_type');
    rejects(() => validateMetadata('auth.api_key.rate_limited', { key_id: KEY_ID, limit_per_s: 0 }), 400, 'invalid_metadata', 'metadata.limit_per_s');
    rejects(() => validateMetadata('auth.api_key.accepted', { key_id: KEY_ID, api_key: 'sk_live_abc' }), 400, 'invalid_metadata', 'metadata.api_key');
  });

  it('takes a key id, never a key: no field for the key, and an id is a short token of safe characters', () => {
    for (const action of ['auth.api_key.created', 'auth.api_key.revoked', 'auth.api_key.accepted', 'auth.api_key.rejected', 'auth.api_key.rate_limited'] as const) {
      const fields = Object.keys(ACTIONS[action].metadata.properties as object);
      assert.ok(!fields.some((f) => /^(key|api_key|secret|token)$/.test(f)), `${action}: ${fields.join(', ')}`);
    }
    rejects(() => validateMetadata('auth.api_key.accepted', { key_id: 'short' }), 400, 'invalid_metadata', 'metadata.key_id');
    rejects(() => validateMetadata('auth.api_key.accepted', { key_id: 'Bearer abc.def' }), 400, 'invalid_metadata', 'metadata.key_id');
    rejects(() => validateMetadata('auth.api_key.accepted', { key_id: 'k'.repeat(129) }), 400, 'field_too_long', 'metadata.key_id');
  });

  it('keeps a hex key id through scrubbing: it is not mistaken for a credential', () => {
    const parsed = parseEvent(event({ action: 'auth.api_key.accepted', actor: { type: 'user', id: 'alice' }, metadata: { key_id: KEY_ID, method: 'GET', path: '/api/runs' } }));
    assert.deepEqual(parsed.metadata, { key_id: KEY_ID, method: 'GET', path: '/api/runs' });
  });
});
