// The agent's version is written once in the code (src/version.ts) and must be package.json's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AGENT_VERSION } from '../src/version.js';

it("reports package.json's version as the agent's version", () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(AGENT_VERSION, pkg.version);
});
