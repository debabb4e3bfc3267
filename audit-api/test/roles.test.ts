// Roles to scopes: tokens from identity providers carry roles, not our scopes. LOOKOUT_AUDIT_ROLE_SCOPES maps a
// roles claim to scopes (admins and auditors read by default), tested over HTTP with tokens that carry only roles.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import { call, createTestDatabase, type TestDatabase, token } from '@lookout/testkit';
import { ConfigError, DEFAULT_ROLE_SCOPES, loadConfig, roleMapping } from '../src/config.js';
import { scopeReader } from '../src/http/auth.js';
import { startTestService, type TestService } from './fixtures/service.js';

const REQUIRED = { LOOKOUT_AUDIT_IP_HMAC_KEY: 'ip-hmac-key-0123456789', LOOKOUT_AUDIT_JWT_SECRET: 's'.repeat(32) };
const refuses = (load: () => unknown, message: RegExp) => assert.throws(load, (err: Error) => err instanceof ConfigError && message.test(err.message));

const EVENT = { action: 'auth.signup', status: 'success', actor: { type: 'user', id: 'u-1' }, metadata: { method: 'password' } };

describe('roles to scopes', function () {
  describe('LOOKOUT_AUDIT_ROLE_SCOPES and LOOKOUT_AUDIT_ROLES_CLAIM', () => {
    const scopes = (env: Record<string, string>) => Object.fromEntries([...loadConfig({ ...REQUIRED, ...env }).auth.roles!.scopes]);

    it(`defaults to ${DEFAULT_ROLE_SCOPES}: admins and auditors read, no role writes`, () => {
      assert.deepEqual(scopes({}), { admin: ['activity:read'], auditor: ['activity:read'] });
      assert.deepEqual(scopes({ LOOKOUT_AUDIT_ROLE_SCOPES: '' }), { admin: ['activity:read'], auditor: ['activity:read'] }, 'empty is unset');
      assert.equal(loadConfig(REQUIRED).auth.roles!.claim, 'roles');
    });

    it('takes role=scope entries, several scopes separated by spaces, and "none" to map no role', () => {
      assert.deepEqual(scopes({ LOOKOUT_AUDIT_ROLE_SCOPES: 'admin=activity:read activity:write, auditor=activity:read' }), {
        admin: ['activity:read', 'activity:write'],
        auditor: ['activity:read'],
      });
      assert.deepEqual(scopes({ LOOKOUT_AUDIT_ROLE_SCOPES: 'Audit.Reader=activity:read,lookout/ingest=activity:write' }), { 'Audit.Reader': ['activity:read'], 'lookout/ingest': ['activity:write'] });
      assert.deepEqual(scopes({ LOOKOUT_AUDIT_ROLE_SCOPES: 'none' }), {});
      assert.equal(loadConfig({ ...REQUIRED, LOOKOUT_AUDIT_ROLES_CLAIM: 'realm_access.roles' }).auth.roles!.claim, 'realm_access.roles');
    });

    it('refuses a malformed entry, an unknown scope, a role named twice and a bad claim path, naming the variable', () => {
      const load = (env: Record<string, string>) => () => loadConfig({ ...REQUIRED, ...env });
      refuses(load({ LOOKOUT_AUDIT_ROLE_SCOPES: 'admin' }), /^LOOKOUT_AUDIT_ROLE_SCOPES entry "admin" must be role=scope/);
      refuses(load({ LOOKOUT_AUDIT_ROLE_SCOPES: '=activity:read' }), /^LOOKOUT_AUDIT_ROLE_SCOPES entry "=activity:read" must be role=scope/);
      refuses(load({ LOOKOUT_AUDIT_ROLE_SCOPES: 'admin=' }), /^LOOKOUT_AUDIT_ROLE_SCOPES entry "admin=" must be role=scope/);
      refuses(load({ LOOKOUT_AUDIT_ROLE_SCOPES: 'admin=activity:reed' }), /^LOOKOUT_AUDIT_ROLE_SCOPES grants "activity:reed" to role "admin"; the scopes are activity:read, activity:write$/);
      refuses(load({ LOOKOUT_AUDIT_ROLE_SCOPES: 'admin=activity:read,admin=activity:write' }), /names role "admin" twice/);
      refuses(load({ LOOKOUT_AUDIT_ROLES_CLAIM: 'realm access..roles' }), /^LOOKOUT_AUDIT_ROLES_CLAIM must be a claim name or a dotted path/);
    });

    it('grants the union of the scope claim and the mapped roles; unknown roles and odd claim shapes grant nothing', () => {
      const read = scopeReader(roleMapping({ LOOKOUT_AUDIT_ROLE_SCOPES: 'admin=activity:read,ingest=activity:write' }));
      const sorted = (payload: Record<string, unknown>) => [...read(payload)].sort();
      assert.deepEqual(sorted({ roles: ['admin'] }), ['activity:read']);
      assert.deepEqual(sorted({ roles: 'viewer admin' }), ['activity:read'], 'space-delimited string');
      assert.deepEqual(sorted({ roles: ['admin', 'ingest', 'admin'] }), ['activity:read', 'activity:write']);
      assert.deepEqual(sorted({ scope: 'activity:write', roles: ['admin'] }), ['activity:read', 'activity:write'], 'union');
      assert.deepEqual(sorted({ roles: ['viewer', 'Admin', 42, null] }), [], 'roles match exactly; non-strings are ignored');
      assert.deepEqual(sorted({ roles: { admin: true } }), [], 'an object is not a roles claim');
      assert.deepEqual(sorted({ roles: ['constructor', '__proto__', 'hasOwnProperty'] }), []);
      const nested = scopeReader(roleMapping({ LOOKOUT_AUDIT_ROLES_CLAIM: 'realm_access.roles' }));
      assert.deepEqual([...nested({ realm_access: { roles: ['auditor'] } })], ['activity:read']);
      assert.deepEqual([...nested({ roles: ['auditor'] })], [], 'only the configured claim is read');
      assert.deepEqual([...nested({ realm_access: 'auditor' })], []);
      const off = scopeReader(roleMapping({ LOOKOUT_AUDIT_ROLE_SCOPES: 'none' }));
      assert.deepEqual([...off({ scope: 'activity:read', roles: ['admin'] })], ['activity:read']);
    });
  });

  describe('over HTTP with tokens that carry only roles (real PostgreSQL)', () => {
    let db: TestDatabase;
    let byDefault: TestService;
    let mapped: TestService;

    before(async () => {
      db = await createTestDatabase();
      byDefault = await startTestService(db.url);
      mapped = await startTestService(db.url, { LOOKOUT_AUDIT_ROLE_SCOPES: 'admin=activity:read activity:write,auditor=activity:read,ingest=activity:write', LOOKOUT_AUDIT_MIGRATE: 'false' });
    });

    after(async () => {
      await mapped?.stop();
      await byDefault?.stop();
      await db?.drop();
    });

    const roles = (tenant: string, value: string[] | string) => token({ tenant, scope: null, roles: value });

    it('by default an admin and an auditor list and export, and neither may write (403 insufficient_scope)', async () => {
      const writer = await token({ tenant: 'roles-a', scope: 'activity:write' });
      assert.equal((await call(byDefault.url, 'POST', '/api/v1/activity', { token: writer, body: EVENT })).status, 201);
      for (const role of ['admin', 'auditor']) {
        const reader = await roles('roles-a', [role]);
        const page = await call(byDefault.url, 'GET', '/api/v1/activity?action=auth.signup', { token: reader });
        assert.equal(page.status, 200, `${role}: ${JSON.stringify(page.body)}`);
        assert.equal(page.body.data.length, 1, role);
        assert.equal((await call(byDefault.url, 'GET', '/api/v1/activity/export?format=jsonl', { token: reader })).status, 200, role);
        const write = await call(byDefault.url, 'POST', '/api/v1/activity', { token: reader, body: EVENT });
        assert.deepEqual([write.status, write.body.error.code], [403, 'insufficient_scope'], role);
      }
    });

    it('a role the mapping does not name grants nothing: 403, not 401 (the token itself is good)', async () => {
      const viewer = await roles('roles-a', ['viewer']);
      const res = await call(byDefault.url, 'GET', '/api/v1/activity', { token: viewer });
      assert.deepEqual([res.status, res.body.error.code], [403, 'insufficient_scope']);
      const none = await call(byDefault.url, 'GET', '/api/v1/activity', { token: await token({ tenant: 'roles-a', scope: null }) });
      assert.equal(none.status, 403, 'neither roles nor scope');
    });

    it('with LOOKOUT_AUDIT_ROLE_SCOPES, an admin writes and reads, an ingest role writes only, roles given as a space-delimited string too', async () => {
      const admin = await roles('roles-b', ['admin']);
      const written = await call(mapped.url, 'POST', '/api/v1/activity', { token: admin, body: EVENT });
      assert.equal(written.status, 201, JSON.stringify(written.body));
      assert.equal(written.body.data.tenant_id, 'roles-b', 'the tenant is still the token\'s tenant_id');
      const ingest = await roles('roles-b', 'staff ingest');
      assert.equal((await call(mapped.url, 'POST', '/api/v1/activity', { token: ingest, body: EVENT })).status, 201);
      assert.equal((await call(mapped.url, 'GET', '/api/v1/activity', { token: ingest })).status, 403);
      const page = await call(mapped.url, 'GET', '/api/v1/activity?action=auth.signup', { token: await roles('roles-b', 'auditor') });
      assert.equal(page.status, 200);
      assert.equal(page.body.data.length, 2);
      // Tenant isolation is unchanged: an auditor of another tenant sees none of it.
      const other = await call(mapped.url, 'GET', '/api/v1/activity?action=auth.signup', { token: await roles('roles-c', ['auditor']) });
      assert.deepEqual(other.body.data, []);
    });
  });
});
