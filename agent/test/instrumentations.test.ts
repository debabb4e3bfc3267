import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { planInstrumentations } from '../src/instrumentations.js';

// The ESM fixture's directory: its node_modules (the repository's) has koa, express, fastify, @nestjs/core, pg, knex, winston and pino.
const APP = fileURLToPath(new URL('./fixtures/apps/esm-app.mjs', import.meta.url));

describe('instrumentation plan', () => {
  it('needs no ESM loader hook for our own instrumentations', () => {
    const plan = planInstrumentations(loadConfig({}, APP));
    assert.deepEqual(plan.names, ['http', 'undici', 'koa', 'express', 'fastify', 'nestjs', 'pg', 'knex', 'winston', 'pino', 'runtime-node']);
    assert.deepEqual(plan.esmModules, []);
  });

  it('hooks exactly the modules of the pieces run by upstream instead', () => {
    const plan = planInstrumentations(loadConfig({ LOOKOUT_UPSTREAM_INSTRUMENTATIONS: 'pg,winston' }, APP));
    assert.deepEqual(plan.esmModules, ['pg', 'pg-pool', 'winston']);
  });

  it('builds upstream classes for the named pieces and ours for the rest', async () => {
    const scopes = async (env: Record<string, string>) => {
      const built = await planInstrumentations(loadConfig({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'runtime-node', ...env }, APP)).build({
        winstonLogHook: () => undefined,
        requestIdOf: () => undefined,
      });
      // Upstream's classes enable themselves when constructed: leave this test process as it was.
      for (const instrumentation of built) instrumentation.disable();
      return built.map((i) => i.instrumentationName);
    };
    const ours = await scopes({});
    assert.ok(ours.every((name) => name.startsWith('@lookout/agent/')), ours.join(', '));
    const mixed = await scopes({ LOOKOUT_UPSTREAM_INSTRUMENTATIONS: 'undici,pg' });
    assert.ok(mixed.includes('@opentelemetry/instrumentation-undici'), mixed.join(', '));
    assert.ok(mixed.includes('@opentelemetry/instrumentation-pg'), mixed.join(', '));
    assert.ok(mixed.includes('@lookout/agent/http-client'), mixed.join(', '));
  });
});
