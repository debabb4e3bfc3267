// Bundles the --import entry (src/register.ts and everything it loads) into a few ESM files under
// dist/preload/. Loading ~300 small modules of the OpenTelemetry SDK cost ~180 ms of startup here; one
// bundle with lazily loaded chunks (exporters load on first export) costs ~70 ms. Measured with
// `node --import @lookout/agent/register` on an empty script, Node 24.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry content hashes: without this, every build would leave the last one's chunks behind.
rmSync('dist/preload', { recursive: true, force: true });

await build({
  entryPoints: ['src/register.ts'],
  outdir: 'dist/preload',
  bundle: true,
  splitting: true, // dynamic imports become chunks loaded only when needed
  format: 'esm',
  platform: 'node',
  target: 'node22',
  // Prefer the packages' ESM builds: named exports survive and tree-shaking works.
  mainFields: ['module', 'main'],
  external: [
    // Finds its own files by URL (lib/register.js) and shares its hook registry with
    // @opentelemetry/instrumentation: it must stay one copy, loaded from node_modules.
    'import-in-the-middle',
    'require-in-the-middle',
    // Checks credentials with instanceof across its own modules: one copy, loaded only on first export.
    '@grpc/grpc-js',
  ],
  // Bundled CommonJS code calls require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __lookoutCreateRequire } from 'node:module'; const require = __lookoutCreateRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
});
