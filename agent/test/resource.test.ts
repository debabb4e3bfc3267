// The resource as a specification: the redaction policy applied to what detectors find and to
// OTEL_RESOURCE_ATTRIBUTES, and the command line sent only when asked for, redacted.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Resource } from '@opentelemetry/resources';
import { loadConfig } from '../src/config.js';
import { createRedactionPolicy, REDACTED } from '../src/redact.js';
import { buildResource, redactArgs } from '../src/resource.js';

const APP = fileURLToPath(new URL('./fixtures/apps/esm-app.mjs', import.meta.url));
const policy = createRedactionPolicy();

/** The resource this process would get under `env`, with a secret flag on its command line. */
async function resourceUnder(env: Record<string, string>): Promise<Resource['attributes']> {
  const saved = { argv: process.argv, attributes: process.env.OTEL_RESOURCE_ATTRIBUTES };
  // processDetector and envDetector read these when they run.
  process.argv = [...process.argv, '--db-password=hunter2', '--api-key', 'k-123'];
  process.env.OTEL_RESOURCE_ATTRIBUTES = env.OTEL_RESOURCE_ATTRIBUTES;
  try {
    const resource = await buildResource(loadConfig(env, APP), policy);
    await resource.waitForAsyncAttributes?.();
    return resource.attributes;
  } finally {
    process.argv = saved.argv;
    if (saved.attributes === undefined) delete process.env.OTEL_RESOURCE_ATTRIBUTES;
    else process.env.OTEL_RESOURCE_ATTRIBUTES = saved.attributes;
  }
}

describe('resource', () => {
  const RESOURCE_ATTRIBUTES =
    'deploy.token=t-secret,owner.contact=ops%40example.com,process.command_line=node app.js --db-password%3Dhunter2,team=payments';

  it('leaves the command line out by default, even one given through OTEL_RESOURCE_ATTRIBUTES', async () => {
    const attributes = await resourceUnder({ OTEL_RESOURCE_ATTRIBUTES: RESOURCE_ATTRIBUTES });
    assert.equal(attributes['process.command_args'], undefined);
    assert.equal(attributes['process.command_line'], undefined);
    assert.equal(attributes['process.pid'], process.pid);
    assert.equal(attributes['process.command'], process.argv[1]);
  });

  it('applies the policy to detected and configured attributes, and keeps ids as they are', async () => {
    const attributes = await resourceUnder({ OTEL_RESOURCE_ATTRIBUTES: RESOURCE_ATTRIBUTES });
    assert.equal(attributes['deploy.token'], REDACTED);
    assert.equal(attributes['owner.contact'], REDACTED);
    assert.equal(attributes.team, 'payments');
    assert.equal(attributes['service.name'], 'fixture-shop');
    assert.match(String(attributes['service.instance.id']), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    if (attributes['host.id'] !== undefined) assert.match(String(attributes['host.id']), /^[0-9a-f-]{16,}$/);
  });

  it('sends the command line when LOOKOUT_RESOURCE_COMMAND_ARGS=true, with the values of secret flags redacted', async () => {
    const attributes = await resourceUnder({ OTEL_RESOURCE_ATTRIBUTES: RESOURCE_ATTRIBUTES, LOOKOUT_RESOURCE_COMMAND_ARGS: 'true' });
    const args = attributes['process.command_args'] as string[];
    assert.deepEqual(args.slice(-3), ['--db-password=[REDACTED]', '--api-key', REDACTED]);
    assert.equal(args[0], process.argv[0]);
    assert.equal(attributes['process.command_line'], 'node app.js --db-password=[REDACTED]');
    assert.doesNotMatch(JSON.stringify(attributes), /hunter2|k-123|t-secret|ops@example/);
  });

  it('redacts secret flags in both spellings and credentials in other arguments, and nothing else', () => {
    assert.deepEqual(
      redactArgs(['node', '--port', '8080', '--token', '--verbose', '-p', 'x', 'postgres://app:s3cret@db/x', '--PASSWORD', 'p', '--pin=1234', 'serve'], policy),
      ['node', '--port', '8080', '--token', '--verbose', '-p', 'x', `postgres://app:${REDACTED}@db/x`, '--PASSWORD', REDACTED, `--pin=${REDACTED}`, 'serve'],
    );
  });
});
