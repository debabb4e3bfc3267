// The action registry: every action the API accepts, what it means, and the JSON Schema its metadata must meet.
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { ApiError } from './errors.js';

export interface ActionSpec {
  readonly description: string;
  /** JSON Schema of the event's metadata; published as is by GET /api/v1/actions. */
  readonly metadata: SchemaObject;
}

/** RFC 3339 with an explicit offset; ajv-formats alone also takes a space separator and "+0000". */
const RFC3339_PATTERN = '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$';

/**
 * Why a token was refused: the auth middleware's reasons and the enum of auth.token.rejected's metadata,
 * one list so the recorded reason can never be one the schema refuses.
 */
export const TOKEN_REJECTION_REASONS = [
  'missing', 'malformed', 'bad_signature', 'expired', 'not_yet_valid', 'wrong_issuer',
  'wrong_audience', 'wrong_algorithm', 'missing_claim', 'jwks_unavailable', 'other',
] as const;

/**
 * Why an API key was refused (auth.api_key.rejected): the gateway sends missing, malformed and unknown; revoked
 * and expired are for key stores that know a key once existed.
 */
export const API_KEY_REJECTION_REASONS = ['missing', 'malformed', 'unknown', 'revoked', 'expired'] as const;

// Schema fragments. Every metadata object is closed (additionalProperties: false): the schema is the
// allow-list of what may be stored, so an unexpected field, a secret most of all, is refused, not kept.
const text = (maxLength: number) => ({ type: 'string', maxLength });
const id = { type: 'string', minLength: 1, maxLength: 256 };
const oneOf = (...values: string[]) => ({ type: 'string', enum: values });
const count = { type: 'integer', minimum: 0 };
// A description on a format or pattern is what an error message says the value must be.
export const TIMESTAMP_SCHEMA = {
  type: 'string',
  format: 'date-time',
  pattern: RFC3339_PATTERN,
  description: 'an RFC 3339 timestamp with an offset, such as 2026-11-22T10:00:00Z',
};
const object = (properties: Record<string, object>, required: string[] = []) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});

const LOGIN_METHOD = oneOf('password', 'sso', 'oauth', 'magic_link', 'api_key', 'passkey');
const MFA_METHOD = oneOf('totp', 'webauthn', 'sms', 'email', 'push', 'recovery_code');
/** An API key is named by a one-way id (the gateway's HMAC-SHA256 of the key), never by the key. */
const KEY_ID = { type: 'string', minLength: 8, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$', description: 'a key id such as 3f9a0c…, never the key itself' };
// Where an authentication happened: the request line the credential came with.
const REQUEST = { method: text(32), path: text(1024) };
/** How many more times the same thing happened since the last event recorded for it (the recorder throttles repeats). */
const REPEATS = count;
const SUBJECT_TYPE = oneOf('user', 'service_account', 'api_key', 'group');

const DEFINITIONS = {
  'auth.login.success': {
    description: 'A user signed in.',
    metadata: object({ method: LOGIN_METHOD, mfa: { type: 'boolean' } }),
  },
  'auth.login.failure': {
    description: 'A sign-in attempt failed.',
    metadata: object(
      {
        reason: oneOf('bad_credentials', 'unknown_user', 'account_locked', 'mfa_failed', 'password_expired', 'rate_limited', 'other'),
        method: LOGIN_METHOD,
      },
      ['reason'],
    ),
  },
  'auth.signup': {
    description: 'A user account was created: by signing up, by accepting an invitation, or by an admin or a directory sync.',
    metadata: object({ method: oneOf('password', 'sso', 'oauth', 'magic_link', 'passkey', 'invitation', 'admin', 'directory_sync'), invited_by: id }),
  },
  'auth.logout': {
    description: 'A session ended.',
    metadata: object({ reason: oneOf('user', 'expired', 'revoked', 'admin') }),
  },
  'auth.token.refreshed': {
    description: 'An access or refresh token was renewed.',
    metadata: object({ token_type: oneOf('access', 'refresh'), expires_in_s: count }),
  },
  'auth.token.rejected': {
    description: 'A request carried a token that was refused (recorded by the service that refused it).',
    metadata: object(
      {
        reason: oneOf(...TOKEN_REJECTION_REASONS),
        path: text(1024),
        method: text(32),
        claimed_tenant_id: text(256),
      },
      ['reason'],
    ),
  },
  'auth.password.changed': {
    description: 'A user changed their password.',
    metadata: object({ forced: { type: 'boolean' } }),
  },
  'auth.password.reset': {
    description: 'A password reset was requested or completed.',
    metadata: object({ stage: oneOf('requested', 'completed') }, ['stage']),
  },
  'auth.email.verified': {
    description: 'A user confirmed their e-mail address.',
    metadata: object({}),
  },
  'auth.account.locked': {
    description: 'An account was locked.',
    metadata: object({ reason: oneOf('too_many_failures', 'admin', 'suspicious_activity', 'other'), until: TIMESTAMP_SCHEMA }, ['reason']),
  },
  'auth.account.unlocked': {
    description: 'A locked account was unlocked.',
    metadata: object({ by: oneOf('admin', 'timeout', 'self_service') }),
  },
  'auth.account.deleted': {
    description: 'An account was deleted (its events stay, under its id).',
    metadata: object({ by: oneOf('self', 'admin', 'retention', 'directory_sync'), reason: text(512) }, ['by']),
  },
  'auth.mfa.enabled': {
    description: 'A user added a second factor.',
    metadata: object({ method: MFA_METHOD }, ['method']),
  },
  'auth.mfa.disabled': {
    description: 'A second factor was removed.',
    metadata: object({ method: MFA_METHOD, by: oneOf('self', 'admin') }, ['method']),
  },
  'auth.mfa.challenged': {
    description: 'A second-factor challenge was answered, rightly or not (the event status says which).',
    metadata: object({ method: MFA_METHOD, reason: oneOf('wrong_code', 'expired', 'replayed', 'cancelled', 'other') }, ['method']),
  },
  'auth.api_key.created': {
    description: 'An API key was created.',
    metadata: object(
      { key_id: KEY_ID, name: text(200), scopes: { type: 'array', maxItems: 100, items: text(128) }, expires_at: TIMESTAMP_SCHEMA },
      ['key_id'],
    ),
  },
  'auth.api_key.revoked': {
    description: 'An API key was revoked.',
    metadata: object({ key_id: KEY_ID, reason: text(512) }, ['key_id']),
  },
  'auth.api_key.accepted': {
    description: 'A request authenticated with an API key (recorded where the key is checked; once per key per interval, not per request).',
    metadata: object({ key_id: KEY_ID, ...REQUEST }, ['key_id']),
  },
  'auth.api_key.rejected': {
    description: 'A request carried no API key, or one that was refused (recorded where the key is checked).',
    metadata: object({ reason: oneOf(...API_KEY_REJECTION_REASONS), key_id: KEY_ID, ...REQUEST, repeats: REPEATS }, ['reason']),
  },
  'auth.api_key.rate_limited': {
    description: "A request with a valid API key was refused because the key was over its rate limit (429).",
    metadata: object(
      { key_id: KEY_ID, limit_per_s: { type: 'number', exclusiveMinimum: 0 }, burst: count, retry_after_s: count, ...REQUEST, repeats: REPEATS },
      ['key_id'],
    ),
  },
  'auth.role.granted': {
    description: 'A role (a set of permissions) was granted to a user, service account, API key or group.',
    metadata: object({ subject_type: SUBJECT_TYPE, subject_id: id, role: text(128), previous_role: text(128) }, ['subject_type', 'subject_id', 'role']),
  },
  'auth.role.revoked': {
    description: 'A role was taken away from a user, service account, API key or group.',
    metadata: object({ subject_type: SUBJECT_TYPE, subject_id: id, role: text(128), reason: text(512) }, ['subject_type', 'subject_id', 'role']),
  },
  'auth.service_account.issued': {
    description: 'Credentials were issued to a service account.',
    metadata: object(
      { service_account_id: id, scopes: { type: 'array', maxItems: 100, items: text(128) }, expires_at: TIMESTAMP_SCHEMA },
      ['service_account_id', 'scopes'],
    ),
  },
  'auth.service_account.revoked': {
    description: "A service account's credentials were revoked.",
    metadata: object({ service_account_id: id, reason: text(512) }, ['service_account_id']),
  },
  'conversation.created': {
    description: 'A conversation was started.',
    metadata: object({ conversation_id: id, channel: text(100) }),
  },
  'conversation.cleared': {
    description: "A conversation's messages were cleared.",
    metadata: object({ conversation_id: id, message_count: count }),
  },
  'agent.run.started': {
    description: 'An agent run began.',
    metadata: object({ agent_id: id, run_id: id, model: text(200) }, ['agent_id', 'run_id']),
  },
  'agent.run.ended': {
    description: 'An agent run finished, with its outcome and token usage.',
    metadata: object(
      {
        agent_id: id,
        run_id: id,
        outcome: oneOf('success', 'failure', 'cancelled', 'timeout'),
        duration_ms: { type: 'number', minimum: 0 },
        input_tokens: count,
        output_tokens: count,
      },
      ['agent_id', 'run_id', 'outcome'],
    ),
  },
  'workflow.run.started': {
    description: 'A workflow run began.',
    metadata: object({ workflow_id: id, run_id: id, trigger: oneOf('manual', 'schedule', 'event', 'api') }, ['workflow_id', 'run_id']),
  },
  'workflow.run.completed': {
    description: 'A workflow run succeeded.',
    metadata: object({ workflow_id: id, run_id: id, duration_ms: { type: 'number', minimum: 0 } }, ['workflow_id', 'run_id']),
  },
  'workflow.run.failed': {
    description: 'A workflow run failed.',
    metadata: object(
      { workflow_id: id, run_id: id, error_code: text(256), duration_ms: { type: 'number', minimum: 0 } },
      ['workflow_id', 'run_id', 'error_code'],
    ),
  },
  'billing.subscription.changed': {
    description: 'A subscription was created, changed, cancelled or renewed.',
    metadata: object(
      {
        change: oneOf('created', 'upgraded', 'downgraded', 'cancelled', 'renewed'),
        from_plan: { type: ['string', 'null'], maxLength: 100 },
        to_plan: text(100),
      },
      ['change'],
    ),
  },
  'storage.file.uploaded': {
    description: 'A file was uploaded.',
    metadata: object({ file_id: id, size_bytes: count, content_type: text(255) }, ['file_id', 'size_bytes']),
  },
  'storage.file.deleted': {
    description: 'A file was deleted.',
    metadata: object({ file_id: id }, ['file_id']),
  },
  'vector.sync.changed': {
    description: 'A vector index sync changed state.',
    metadata: object({ index_id: id, state: oneOf('started', 'completed', 'failed', 'paused'), documents: count }, ['index_id', 'state']),
  },
  'container.created': {
    description: 'A container was created.',
    metadata: object({ container_id: id, image: text(512) }, ['container_id']),
  },
  'container.destroyed': {
    description: 'A container was destroyed.',
    metadata: object({ container_id: id, reason: text(512) }, ['container_id']),
  },
  'container.bound': {
    description: 'A container was bound to a conversation, run or other target.',
    metadata: object({ container_id: id, target_type: text(100), target_id: id }, ['container_id', 'target_type', 'target_id']),
  },
  'activity.exported': {
    description: 'Activity was exported from this API (recorded by the API itself).',
    metadata: object(
      {
        format: oneOf('jsonl', 'csv'),
        // The one open object: the export's query filters, name → value. No length limit of its own;
        // the 8 KiB metadata cap bounds it.
        filters: { type: 'object', additionalProperties: { type: 'string' } },
        rows: count,
      },
      ['format', 'filters'],
    ),
  },
} satisfies Record<string, ActionSpec>;

export type ActionName = keyof typeof DEFINITIONS;

export const ACTIONS: Readonly<Record<ActionName, ActionSpec>> = Object.freeze(DEFINITIONS);

/** Every proper dotted prefix of an action (`auth`, `auth.login`, …), for filters such as `action=auth.*`. */
export const ACTION_PREFIXES: ReadonlySet<string> = new Set(
  Object.keys(ACTIONS).flatMap((action) => {
    const parts = action.split('.');
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('.'));
  }),
);

export function isKnownAction(action: string): action is ActionName {
  // hasOwn, so "constructor" or "__proto__" is not an action.
  return Object.hasOwn(ACTIONS, action);
}

// ajv-formats is CommonJS: imported from ESM, its plugin is the module's `default` property.
const addFormats = formats.default;
// verbose: errors carry their schema, so a message can list the fields an object accepts.
const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true, verbose: true });
addFormats(ajv, ['date-time']);
const validators = new Map<string, ValidateFunction>(Object.entries(ACTIONS).map(([action, spec]) => [action, ajv.compile(spec.metadata)]));

/** Metadata fields whose validated value comes from a closed set (enum or boolean), per action. */
const CLOSED_FIELDS = new Map<string, ReadonlySet<string>>(
  Object.entries(ACTIONS).map(([action, spec]) => {
    const properties = (spec.metadata.properties ?? {}) as Record<string, SchemaObject>;
    return [action, new Set(Object.keys(properties).filter((key) => properties[key]!.enum || properties[key]!.type === 'boolean'))];
  }),
);

/** Fields that cannot hold a secret once validated, whatever their name (`token_type` is access or refresh). */
export function closedFields(action: string): ReadonlySet<string> {
  return CLOSED_FIELDS.get(action) ?? new Set();
}

/**
 * Throws 400 unless `metadata` meets the action's schema: unknown_action naming `action`, or
 * invalid_metadata (field_too_long for a long string, as for every other field) naming `metadata.<field>`.
 * `path` prefixes the field paths, so a batch reports `events[3].metadata.reason`.
 */
export function validateMetadata(action: string, metadata: unknown, path = ''): void {
  const validate = validators.get(action);
  if (!validate) {
    throw new ApiError(400, 'unknown_action', `unknown action "${action}"; known actions are listed at GET /api/v1/actions`, `${path}action`);
  }
  if (validate(metadata)) return;
  const error = validate.errors![0]!;
  const { field, message } = explainSchemaError(error, `${path}metadata`);
  throw new ApiError(400, error.keyword === 'maxLength' ? 'field_too_long' : 'invalid_metadata', `${message} (action ${action})`, field);
}

/** An ajv error as the field path it concerns (`actor.id`, `metadata.scopes[0]`) and a sentence about it. */
export function explainSchemaError(error: ErrorObject, root: string): { field: string; message: string } {
  let field = pointerToPath(error.instancePath, root);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      field = join(field, String(params.missingProperty));
      return { field, message: `${field} is required` };
    case 'additionalProperties': {
      field = join(field, String(params.additionalProperty));
      const allowed = Object.keys((error.parentSchema?.properties ?? {}) as object);
      return { field, message: `${field} is not an accepted field${allowed.length ? `; accepted: ${allowed.join(', ')}` : ''}` };
    }
    case 'maxLength':
      return { field, message: `${field} must be at most ${String(params.limit)} characters` };
    case 'enum':
      return { field, message: `${field} must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
    case 'format':
    case 'pattern': {
      const expected = (error.parentSchema as { description?: string } | undefined)?.description;
      return { field, message: expected ? `${field} must be ${expected}` : `${field} is not in the expected form` };
    }
    default:
      return { field, message: `${field} ${error.message ?? 'is invalid'}` };
  }
}

/** JSON Pointer (`/scopes/0`) to the dotted form used in error fields (`scopes[0]`), under `root`. */
function pointerToPath(pointer: string, root: string): string {
  let path = root;
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path = /^\d+$/.test(segment) ? `${path}[${segment}]` : join(path, segment);
  }
  return path;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
