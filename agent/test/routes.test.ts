// The route of every request a web framework answers, and the exception it answers with a 5xx, on the HTTP
// server span and on http.server.request.duration: Express 4 and 5, Fastify 4 and 5, NestJS on Express, and
// plain http (no route), asserted from what a real OTLP/gRPC receiver decoded.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { OtlpReceiver, type ReceivedPoint, type ReceivedSpan, type RunningApp } from '@lookout/testkit';
import { spawnApp } from './fixtures/spawn-app.js';

describe('routes and answered exceptions from web frameworks', function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();
  const apps = new Map<string, RunningApp>();
  let express4Dir: string;
  let koa2Dir: string;
  let requests = 0;

  before(async () => {
    await receiver.start();
    // The agent knows Express by its package name; the workspace installs Express 4 as `express4`, so a
    // directory of its own links it as `express` for the fixture to require from there.
    express4Dir = mkdtempSync(join(tmpdir(), 'lookout-express4-'));
    mkdirSync(join(express4Dir, 'node_modules'));
    symlinkSync(dirname(createRequire(import.meta.url).resolve('express4/package.json')), join(express4Dir, 'node_modules', 'express'));
    // The same for Koa 2, installed as `koa2`.
    koa2Dir = mkdtempSync(join(tmpdir(), 'lookout-koa2-'));
    mkdirSync(join(koa2Dir, 'node_modules'));
    symlinkSync(dirname(createRequire(import.meta.url).resolve('koa2/package.json')), join(koa2Dir, 'node_modules', 'koa'));
    const started = await Promise.all(
      (
        [
          ['express5', 'express-app.cjs', {}],
          ['express4', 'express-app.cjs', { EXPRESS_FROM: join(express4Dir, 'app.cjs') }],
          ['fastify5', 'fastify-app.cjs', { FASTIFY: 'fastify' }],
          ['fastify4', 'fastify-app.cjs', { FASTIFY: 'fastify4' }],
          ['nest', 'nest-app.cjs', {}],
          ['koa3', 'koa-app.cjs', {}],
          ['koa2', 'koa-app.cjs', { KOA_FROM: join(koa2Dir, 'app.cjs') }],
          ['plain-http', 'cjs-app.cjs', {}],
        ] as const
      ).map(async ([service, file, env]) => {
        const app = await spawnApp(file, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: service, ...env } });
        return [service, app] as const;
      }),
    );
    for (const [service, app] of started) apps.set(service, app);
  });

  after(async () => {
    await Promise.all([...apps.values()].map((app) => app.stop()));
    await receiver.stop();
    if (express4Dir) rmSync(express4Dir, { recursive: true, force: true });
    if (koa2Dir) rmSync(koa2Dir, { recursive: true, force: true });
  });

  /** Sends GET `path` to the service's app and returns the status and the server span it produced. */
  async function get(service: string, path: string): Promise<{ status: number; span: ReceivedSpan }> {
    const requestId = `${service}-${++requests}`;
    const res = await fetch(`${apps.get(service)!.url}${path}`, { headers: { 'x-request-id': requestId } });
    await res.arrayBuffer();
    const span = await receiver.waitFor(`the server span of ${service} GET ${path}`, () =>
      receiver.spans.find((s) => s.kind === 'SPAN_KIND_SERVER' && s.attributes.request_id === requestId),
    );
    return { status: res.status, span };
  }

  async function assertRoute(service: string, path: string, route: string, status = 200): Promise<ReceivedSpan> {
    const { status: answered, span } = await get(service, path);
    assert.equal(answered, status, `${path} answered`);
    assert.equal(span.name, `GET ${route}`, `${path}: span name`);
    assert.equal(span.attributes['http.route'], route, `${path}: http.route`);
    return span;
  }

  async function assertRouteless(service: string, path: string, status: number): Promise<void> {
    const { status: answered, span } = await get(service, path);
    assert.equal(answered, status, `${path} answered`);
    assert.equal(span.name, 'GET', `${path}: named by the method alone`);
    assert.equal(span.attributes['http.route'], undefined, `${path}: no http.route`);
  }

  async function assertRecorded(service: string, path: string, route: string, message: string, fixture: RegExp): Promise<void> {
    const span = await assertRoute(service, path, route, 500);
    assert.equal(span.status.code, 'STATUS_CODE_ERROR');
    assert.equal(span.status.message, message, 'the status says why');
    const exceptions = span.events.filter((e) => e.name === 'exception');
    assert.equal(exceptions.length, 1, 'one exception event');
    assert.equal(exceptions[0]!.attributes['exception.message'], message);
    assert.match(String(exceptions[0]!.attributes['exception.stacktrace']), fixture, 'the stack of the error the app threw');
  }

  async function assertNotRecorded(service: string, path: string, route: string, status: number): Promise<void> {
    const span = await assertRoute(service, path, route, status);
    assert.equal(span.status.code, 'STATUS_CODE_UNSET', 'a 4xx is an answer, not a server error');
    assert.deepEqual(span.events.filter((e) => e.name === 'exception'), [], 'no exception event');
  }

  /** The newest http.server.request.duration points of the service, once they carry each of `routes` (and a 404's, if asked). */
  async function durationPoints(service: string, routes: string[], with404 = false): Promise<ReceivedPoint[]> {
    return receiver.waitFor(`${service}'s duration points for ${routes.join(', ')}`, () => {
      // Cumulative: the newest export holds every point so far.
      const points = receiver.metrics.findLast((m) => m.name === 'http.server.request.duration' && m.resource['service.name'] === service)?.points;
      if (points === undefined) return undefined;
      const complete =
        routes.every((route) => points.some((p) => p.attributes['http.route'] === route)) &&
        (!with404 || points.some((p) => p.attributes['http.response.status_code'] === 404));
      return complete ? points : undefined;
    });
  }

  function assertNoRouteOn404s(points: ReceivedPoint[]): void {
    const notFound = points.filter((p) => p.attributes['http.response.status_code'] === 404);
    assert.deepEqual(notFound.map((p) => p.attributes['http.route']), notFound.map(() => undefined), 'no route on a 404 point');
  }

  for (const [service, label] of [
    ['koa3', 'Koa 3'],
    ['koa2', 'Koa 2'],
  ] as const) {
    describe(label, () => {
      it('runs the Koa version it is named for', () => {
        const listening = apps.get(service)!.lines.find((l): l is Record<string, unknown> => typeof l === 'object' && 'koa' in l);
        assert.equal(String(listening?.koa).split('.')[0], label.slice(-1));
      });

      it('names the server span by the @koa/router route, prefixes included', async () => {
        await assertRoute(service, '/users/42', '/users/:id');
        await assertRoute(service, '/api/orders/o-9', '/api/orders/:order');
      });

      it("records the exception Koa answers with a 500, and not a ctx.throw(418)", async () => {
        await assertRecorded(service, '/boom', '/boom', 'koa handler failed', /koa-app\.cjs/);
        await assertNotRecorded(service, '/teapot', '/teapot', 418);
      });

      it("keeps Koa's 404 route-less", async () => {
        await assertRouteless(service, '/nowhere', 404);
      });
    });
  }

  for (const [service, label] of [
    ['express5', 'Express 5'],
    ['express4', 'Express 4'],
  ] as const) {
    describe(label, () => {
      it('runs the Express version it is named for', () => {
        const listening = apps.get(service)!.lines.find((l): l is Record<string, unknown> => typeof l === 'object' && 'express' in l);
        assert.equal(String(listening?.express).split('.')[0], label.slice(-1));
      });

      it('names the server span by method and route template and sets http.route', async () => {
        await assertRoute(service, '/users/42', '/users/:id');
      });

      it('includes the paths nested routers are mounted at (app.use("/api", router))', async () => {
        await assertRoute(service, '/api/users/7', '/api/users/:id');
        await assertRoute(service, '/api/users', '/api/users');
      });

      it('keeps a parameter in a mount path as its template, not the concrete path', async () => {
        await assertRoute(service, '/orgs/acme/projects/p1', '/orgs/:org/projects/:project');
      });

      it('drops the mount path of a router the request left unanswered', async () => {
        await assertRoute(service, '/api-status', '/api-status');
      });

      it('includes the path a sub-app is mounted at', async () => {
        await assertRoute(service, '/admin/stats', '/admin/stats');
      });

      it('records the exception an error middleware answers with 500 on the server span', async () => {
        await assertRecorded(service, '/boom', '/boom', 'express kaboom', /express-app\.cjs/);
      });

      it("records the exception Express's final handler answers with 500", async () => {
        await assertRecorded(service, '/unhandled', '/unhandled', 'left to the final handler', /express-app\.cjs/);
      });

      it('records no exception for an error the error middleware answers with 400', async () => {
        await assertNotRecorded(service, '/users/bad', '/users/:id', 400);
      });

      it('leaves a 404 without a route, also when a matched route passed the request on', async () => {
        await assertRouteless(service, '/nope', 404);
        await assertRouteless(service, '/maybe/3', 404);
      });

      it('puts the route on http.server.request.duration, and none on a 404', async () => {
        const points = await durationPoints(service, ['/users/:id', '/api/users/:id', '/orgs/:org/projects/:project'], true);
        assertNoRouteOn404s(points);
        assert.ok(!points.some((p) => String(p.attributes['http.route']).includes('acme')), 'no concrete path as a route');
      });
    });
  }

  for (const [service, label] of [
    ['fastify5', 'Fastify 5'],
    ['fastify4', 'Fastify 4'],
  ] as const) {
    describe(label, () => {
      it('runs the Fastify version it is named for', () => {
        const listening = apps.get(service)!.lines.find((l): l is Record<string, unknown> => typeof l === 'object' && 'fastify' in l);
        assert.equal(String(listening?.fastify).split('.')[0], label.slice(-1));
      });

      it('names the server span by method and route and sets http.route, plugin prefixes included', async () => {
        await assertRoute(service, '/users/42', '/users/:id');
        await assertRoute(service, '/api/items/2', '/api/items/:id');
        await assertRoute(service, '/api/v1/things/3', '/api/v1/things/:thing');
      });

      it('records the exception a throwing route is answered 500 for', async () => {
        await assertRecorded(service, '/boom', '/boom', 'fastify kaboom', /fastify-app\.cjs/);
      });

      it('records the exception of a failing hook with the route it failed before', async () => {
        await assertRecorded(service, '/guarded', '/guarded', 'session store down', /fastify-app\.cjs/);
      });

      it('records no exception for a 400, thrown or from validation, and keeps the route', async () => {
        await assertNotRecorded(service, '/bad', '/bad', 400);
        await assertNotRecorded(service, '/typed/abc', '/typed/:n', 400);
      });

      it('leaves a 404 without a route', async () => {
        await assertRouteless(service, '/nope', 404);
      });

      it('puts the route on http.server.request.duration, and none on a 404', async () => {
        const points = await durationPoints(service, ['/users/:id', '/api/v1/things/:thing'], true);
        assertNoRouteOn404s(points);
      });
    });
  }

  describe('NestJS on Express', () => {
    it("names the server span by Nest's route, controller prefix included", async () => {
      await assertRoute('nest', '/users/42', '/users/:id');
    });

    it("records the exception Nest's exception filter answers with 500", async () => {
      await assertRecorded('nest', '/users/boom/now', '/users/boom/now', 'nest kaboom', /nest-app\.cjs/);
    });

    it('records no exception for an HttpException answered with 400', async () => {
      await assertNotRecorded('nest', '/users/bad', '/users/:id', 400);
    });

    it('leaves a 404 without a route', async () => {
      await assertRouteless('nest', '/nope', 404);
    });

    it('puts the route on http.server.request.duration, and none on a 404', async () => {
      assertNoRouteOn404s(await durationPoints('nest', ['/users/:id', '/users/boom/now'], true));
    });
  });

  describe('plain http', () => {
    it('names the server span by the method alone and sets no http.route, on the span or the metric', async () => {
      await assertRouteless('plain-http', '/work', 200);
      const points = await durationPoints('plain-http', []);
      assert.ok(points.length > 0);
      assert.deepEqual(points.map((p) => p.attributes['http.route']), points.map(() => undefined));
    });
  });
});
