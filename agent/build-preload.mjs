// Bundles the --import entry (src/register.ts and everything it loads) into a few ESM files under
// dist/preload/. Loading ~300 small modules of the OpenTelemetry SDK cost ~180 ms of startup here; one
// bundle with lazily loaded chunks (exporters load on first export) costs ~70 ms. Measured with
// `node --import @lookout/agent/register` on an empty script, Node 24.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// NodeSDK (src/sdk.ts) is given every part, so its fallbacks that build exporters and propagators from the
// OTEL_* variables never run; but its modules import them all statically (OTLP over gRPC, HTTP/JSON and
// HTTP/protobuf for each signal, Zipkin, Prometheus, B3), and bundled as they are they would all load at
// startup (+50 ms, and @grpc/grpc-js). Imported from sdk-node's own files, those packages resolve instead to
// a module whose exports throw if ever constructed. The agent's own imports of the same packages are
// untouched: each is a dynamic import(), a chunk that loads only when its exporter or propagator is chosen.
const sdkNodeFallbacksLeftOut = {
  name: 'sdk-node-fallbacks-left-out',
  setup(build) {
    build.onResolve({ filter: /^@opentelemetry\/(exporter|propagator)-/ }, (args) =>
      /[\\/]@opentelemetry[\\/]sdk-node[\\/]/.test(args.importer) ? { path: args.path, namespace: 'left-out' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'left-out' }, async ({ path }) => {
      const names = Object.keys(await import(path)).filter((name) => name !== 'default');
      const message = `is not in @lookout/agent's preload bundle: the agent gives NodeSDK its own exporters and propagators`;
      return {
        contents: [
          `const leftOut = (name) => class { constructor() { throw new Error(name + ${JSON.stringify(` of ${path} ${message}`)}); } };`,
          ...names.map((name) => `export const ${name} = leftOut(${JSON.stringify(name)});`),
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

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
  plugins: [sdkNodeFallbacksLeftOut],
  sourcemap: true,
  logLevel: 'warning',
});
