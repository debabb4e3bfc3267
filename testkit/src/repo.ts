// Where the repository is, from the testkit's own place in it, and its YAML files read as compose reads them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const repoPath = (...parts: string[]) => join(REPO_ROOT, ...parts);

export function loadRepoYaml<T = any>(relative: string): T {
  // merge: `<<: *anchor` keys, which docker compose resolves (YAML 1.1) and YAML 1.2 leaves as plain keys.
  return YAML.parse(readFileSync(repoPath(relative), 'utf8'), { merge: true }) as T;
}
