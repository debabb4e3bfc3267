// bench:agent's pino app: the outside app's Koa + @koa/router with the app's own pino logger (JSON lines on
// stdout, pino's defaults) instead of winston, and no import of ours. One route, to compare the logger:
//   GET /trivial    logs one line
// CommonJS: upstream's instrumentation-pino patches pino's main module through its require hook only, and
// auto-instrumentations-node's register installs no ESM loader hook, so an ES module importing pino gets
// no upstream instrumentation at all (0 log records delivered, and no trace ids on the lines). Required,
// pino is instrumented by both sides.
const Koa = require('koa');
const Router = require('@koa/router');
const pino = require('pino');

const log = pino();
const router = new Router();

router.get('/trivial', (ctx) => {
  log.info({ route: 'trivial' }, 'trivial request');
  ctx.body = { ok: true };
});

const app = new Koa();
app.use(router.routes());
app.listen(Number(process.env.PORT), '127.0.0.1');
// For profiling (--cpu-prof writes its file at a normal exit).
if (process.env.BENCH_EXIT_AFTER_MS) setTimeout(() => process.exit(0), Number(process.env.BENCH_EXIT_AFTER_MS)).unref();
