// collector/manifest.yaml, from which the tests and `./lookout stack` build the Collector, holds exactly the
// components collector/config.yaml uses, at the release docker-compose.yml pins for the contrib image; the
// other programs are built at the versions compose pins too.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { stackBinary, stackVersions } from '@lookout/testkit';
import { loadYaml, path } from './fixtures/repo.js';

const KINDS = { receivers: 'receiver', processors: 'processor', exporters: 'exporter', extensions: 'extension' } as const;
// Current component names that differ from their module's: otlp_grpc is the otlp exporter.
const MODULE_TYPES: Record<string, string> = { otlp_grpc: 'otlp', otlp_http: 'otlphttp' };

describe('the stack programs built here (collector/manifest.yaml, scripts/stack-versions.sh)', () => {
  const manifest = loadYaml('collector/manifest.yaml');
  const config = loadYaml('collector/config.yaml');

  it('lists exactly the components config.yaml defines, one module each', () => {
    for (const [section, kind] of Object.entries(KINDS)) {
      const used = new Set(Object.keys(config[section] ?? {}).map((id) => id.split('/')[0]!).map((type) => `${(MODULE_TYPES[type] ?? type).replace(/_/g, '')}${kind}`));
      const built = new Set((manifest[section] ?? []).map((c: { gomod: string }) => c.gomod.split(' ')[0]!.split('/').at(-1)));
      assert.deepEqual([...built].sort(), [...used].sort(), section);
    }
  });

  it('builds every module at the version docker-compose.yml pins for the Collector image', () => {
    const tag = String(loadYaml('docker-compose.yml').services['otel-collector'].image).split(':')[1];
    assert.equal(manifest.dist.version, tag);
    for (const section of Object.keys(KINDS)) {
      for (const { gomod } of manifest[section] ?? []) assert.equal(gomod.split(' ')[1], `v${tag}`, gomod);
    }
  });

  it('builds the programs the tests run at the versions docker-compose.yml pins (scripts/stack-versions.sh)', () => {
    const services = loadYaml('docker-compose.yml').services;
    const tag = (service: string) => String(services[service].image).split(':')[1]!.replace(/^v/, '');
    const versions = stackVersions();
    assert.equal(versions.COLLECTOR_VERSION, tag('otel-collector'));
    assert.equal(versions.PROMETHEUS_VERSION, tag('prometheus'));
    assert.equal(versions.ALERTMANAGER_VERSION, tag('alertmanager'));
    assert.equal(versions.BLACKBOX_EXPORTER_VERSION, tag('blackbox-exporter'));
    assert.equal(versions.POSTGRES_EXPORTER_VERSION, tag('postgres-exporter'));
    // Debian's package of the same upstream release (scripts/install-exporters.sh refuses any other).
    assert.match(versions.BLACKBOX_EXPORTER_DEBIAN_VERSION!, new RegExp(`^${versions.BLACKBOX_EXPORTER_VERSION!.replace(/\./g, '\\.')}-`));
    assert.match(versions.POSTGRES_EXPORTER_DEBIAN_VERSION!, new RegExp(`^${versions.POSTGRES_EXPORTER_VERSION!.replace(/\./g, '\\.')}-`));
    // Prometheus 3.x is the Go module v0.3xx.y.
    const [major, minor, patch] = versions.PROMETHEUS_VERSION!.split('.').map(Number);
    assert.equal(versions.PROMETHEUS_MODULE_VERSION, `v0.${major! * 100 + minor!}.${patch}`);
  });

  it('builds a new Collector when collector/manifest.yaml changes: its directory carries the manifest\'s hash', () => {
    const hash = createHash('sha256').update(readFileSync(path('collector/manifest.yaml'))).digest('hex').slice(0, 8);
    assert.match(stackBinary('otelcol-lookout'), new RegExp(`/otelcol-${stackVersions().COLLECTOR_VERSION!.replace(/\./g, '\\.')}-${hash}/bin/otelcol-lookout$`));
  });
});
