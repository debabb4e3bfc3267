// bench:agent's Express app: Express 5 with the app's own winston logger (JSON lines on stdout), as the
// outside app has, and no import of ours. One route, to compare the framework:
//   GET /trivial    logs one line
import express from 'express';
import winston from 'winston';

const log = winston.createLogger({
  level: 'info',
  format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  transports: [new winston.transports.Stream({ stream: process.stdout })],
});
const app = express();

app.get('/trivial', (_req, res) => {
  log.info('trivial request', { route: 'trivial' });
  res.json({ ok: true });
});

app.listen(Number(process.env.PORT), '127.0.0.1');
// For profiling (--cpu-prof writes its file at a normal exit).
if (process.env.BENCH_EXIT_AFTER_MS) setTimeout(() => process.exit(0), Number(process.env.BENCH_EXIT_AFTER_MS)).unref();
