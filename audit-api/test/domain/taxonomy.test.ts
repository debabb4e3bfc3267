// The action taxonomy: which actions exist, and how their metadata is validated.
import assert from 'node:assert/strict';
import { redactionPolicy } from '@lookout/agent';
import { ACTION_PREFIXES, ACTIONS, closedFields, isKnownAction, validateMetadata } from '../../src/domain/taxonomy.js';
import { rejects } from './fixtures.js';

describe('taxonomy', () => {
  const DOCUMENTED_ACTIONS = [
    'auth.login.success',
    'auth.login.failure',
    'auth.signup',
    'auth.logout',
    'auth.token.refreshed',
    'auth.token.rejected',
    'auth.password.changed',
    'auth.password.reset',
    'auth.email.verified',
    'auth.account.locked',
    'auth.account.unlocked',
    'auth.account.deleted',
    'auth.mfa.enabled',
    'auth.mfa.disabled',
    'auth.mfa.challenged',
    'auth.api_key.created',
    'auth.api_key.revoked',
    'auth.api_key.accepted',
    'auth.api_key.rejected',
    'auth.api_key.rate_limited',
    'auth.role.granted',
    'auth.role.revoked',
    'auth.service_account.issued',
    'auth.service_account.revoked',
    'conversation.created',
    'conversation.cleared',
    'agent.run.started',
    'agent.run.ended',
    'workflow.run.started',
    'workflow.run.completed',
    'workflow.run.failed',
    'billing.subscription.changed',
    'storage.file.uploaded',
    'storage.file.deleted',
    'vector.sync.changed',
    'container.created',
    'container.destroyed',
    'container.bound',
    'activity.exported',
  ];

  it('registers exactly the 39 actions listed in docs/audit-api.md, each with a description and a closed metadata schema', () => {
    assert.equal(DOCUMENTED_ACTIONS.length, 39);
    assert.deepEqual(Object.keys(ACTIONS).sort(), [...DOCUMENTED_ACTIONS].sort());
    for (const action of DOCUMENTED_ACTIONS) {
      assert.ok(isKnownAction(action), action);
      const spec = ACTIONS[action as keyof typeof ACTIONS];
      assert.ok(spec.description.length > 0, action);
      assert.equal(spec.metadata.type, 'object', action);
      assert.equal(spec.metadata.additionalProperties, false, action);
    }
  });

  it('knows no action by an inherited property name', () => {
    assert.equal(isKnownAction('constructor'), false);
    assert.equal(isKnownAction('__proto__'), false);
  });

  it('lists every dotted prefix, and no full action, in ACTION_PREFIXES', () => {
    for (const prefix of ['auth', 'auth.login', 'auth.service_account', 'agent.run', 'billing.subscription', 'activity']) assert.ok(ACTION_PREFIXES.has(prefix), prefix);
    assert.equal(ACTION_PREFIXES.has('auth.login.success'), false);
    assert.equal(ACTION_PREFIXES.has('auth.log'), false);
  });

  it('declares no metadata field the redaction policy would remove, unless its values are a closed set', () => {
    const policy = redactionPolicy();
    for (const [action, spec] of Object.entries(ACTIONS)) {
      for (const field of Object.keys(spec.metadata.properties as object)) {
        if (policy.isSensitiveKey(field)) assert.ok(closedFields(action).has(field), `${action}: ${field}`);
      }
    }
  });

  it('accepts valid metadata for several actions', () => {
    validateMetadata('auth.login.failure', { reason: 'bad_credentials', method: 'sso' });
    validateMetadata('auth.email.verified', {});
    validateMetadata('auth.account.locked', { reason: 'admin', until: '2026-11-22T10:00:00+01:00' });
    validateMetadata('auth.service_account.issued', { service_account_id: 'sa-1', scopes: ['activity:write'], expires_at: '2027-01-01T00:00:00Z' });
    validateMetadata('agent.run.ended', { agent_id: 'a', run_id: 'r', outcome: 'timeout', duration_ms: 12.5, input_tokens: 10, output_tokens: 0 });
    validateMetadata('billing.subscription.changed', { change: 'created', from_plan: null, to_plan: 'pro' });
    validateMetadata('activity.exported', { format: 'csv', filters: { action: 'auth.*' }, rows: 3 });
  });

  it('rejects an unknown action with 400 unknown_action naming action', () => {
    const err = rejects(() => validateMetadata('auth.login.maybe', {}), 400, 'unknown_action', 'action');
    assert.equal(err.message, 'unknown action "auth.login.maybe"; known actions are listed at GET /api/v1/actions');
  });

  it('rejects a missing required metadata field with 400 invalid_metadata naming it', () => {
    rejects(() => validateMetadata('auth.login.failure', {}), 400, 'invalid_metadata', 'metadata.reason');
  });

  it('rejects an additional metadata field with 400 invalid_metadata naming it', () => {
    rejects(() => validateMetadata('auth.logout', { reason: 'user', password: 'x' }), 400, 'invalid_metadata', 'metadata.password');
  });

  it('rejects a value outside an enum, a wrong type and a bad date-time with 400 invalid_metadata naming the field', () => {
    rejects(() => validateMetadata('auth.login.success', { method: 'telepathy' }), 400, 'invalid_metadata', 'metadata.method');
    rejects(() => validateMetadata('auth.login.success', { mfa: 'yes' }), 400, 'invalid_metadata', 'metadata.mfa');
    rejects(() => validateMetadata('storage.file.uploaded', { file_id: 'f', size_bytes: -1 }), 400, 'invalid_metadata', 'metadata.size_bytes');
    rejects(() => validateMetadata('auth.account.locked', { reason: 'admin', until: '2026-11-22 10:00' }), 400, 'invalid_metadata', 'metadata.until');
    rejects(() => validateMetadata('auth.service_account.issued', { service_account_id: 's', scopes: ['a', 5] }), 400, 'invalid_metadata', 'metadata.scopes[1]');
  });

  it('rejects a too-long metadata string with 400 field_too_long naming it', () => {
    rejects(() => validateMetadata('container.created', { container_id: 'c'.repeat(257) }), 400, 'field_too_long', 'metadata.container_id');
  });
});
