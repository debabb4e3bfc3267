// bench:agent's service outside the workspace: an ordinary ESM app with its own dependencies and its own
// winston logger (JSON lines on stdout), which knows nothing of Lookout. Same routes as ../app.mjs:
//   GET /trivial    logs one line
//   GET /realistic  one PostgreSQL query, one fetch to a second local service, one log line
import Koa from 'koa';
import Router from '@koa/router';
import pg from 'pg';
import winston from 'winston';

const log = winston.createLogger({
  level: 'info',
  format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  transports: [new winston.transports.Stream({ stream: process.stdout })],
});
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 8 });
const downstream = process.env.DOWNSTREAM_URL;
const router = new Router();

router.get('/trivial', (ctx) => {
  log.info('trivial request', { route: 'trivial' });
  ctx.body = { ok: true };
});

router.get('/realistic', async (ctx) => {
  const [{ rows }, res] = await Promise.all([pool.query('select $1::int + 1 as n', [41]), fetch(`${downstream}/price`)]);
  const price = await res.json();
  log.info('realistic request', { n: rows[0].n, price: price.amount });
  ctx.body = { n: rows[0].n, price: price.amount };
});

const app = new Koa();
app.use(router.routes());
app.listen(Number(process.env.PORT), '127.0.0.1');
// For profiling (--cpu-prof writes its file at a normal exit).
if (process.env.BENCH_EXIT_AFTER_MS) setTimeout(() => process.exit(0), Number(process.env.BENCH_EXIT_AFTER_MS)).unref();
