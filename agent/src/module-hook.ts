// Patches CommonJS modules as they load, found by package and file, with one Map lookup per module load
// instead of a loader hook. import-in-the-middle and require-in-the-middle (the upstream way) run code for
// every module an app loads, resolving each require a second time; on a Koa + pg + winston app that cost
// tens of milliseconds of startup. Koa, pg, knex and winston are CommonJS underneath their ESM entries,
// and Node loads those files through Module._load with their absolute path, so one wrapper sees them
// whether the app requires or imports them.
import { sep } from 'node:path';

export type Patch = (exports: unknown) => void;

interface Target {
  /** `/node_modules/koa/lib/application.js`: how an absolute path to the file ends. */
  suffix: string;
  patch: Patch;
  patched: WeakSet<object>;
}

interface Registry {
  /** Targets by the bare name a `require('koa')` passes (only for a package's main file). */
  byName: Map<string, Target[]>;
  all: Target[];
}

type ModuleInternals = {
  _load(request: string, parent: unknown, isMain: boolean): unknown;
  _cache: Record<string, { exports: unknown } | undefined>;
};

const kRegistry = Symbol.for('lookout.moduleHook');

/**
 * Calls `patch(exports)` once for each copy of `pkg`'s `file` the app loads (now, if already loaded).
 * `main` says that file is what `require(pkg)` returns, so the bare request matches too.
 */
export function onModuleLoad(pkg: string, file: string, main: boolean, patch: Patch): void {
  const registry = installed();
  const target: Target = { suffix: `${sep}node_modules${sep}${pkg}${sep}${file.split('/').join(sep)}`, patch, patched: new WeakSet() };
  registry.all.push(target);
  if (main) registry.byName.set(pkg, [...(registry.byName.get(pkg) ?? []), target]);
  // Loaded before we were asked (an instrumentation enabled late): patch what is there.
  const cache = (process.getBuiltinModule('node:module') as unknown as ModuleInternals)._cache;
  for (const filename of Object.keys(cache)) {
    if (filename.endsWith(target.suffix)) apply(target, cache[filename]?.exports);
  }
}

function installed(): Registry {
  const holder = globalThis as typeof globalThis & { [kRegistry]?: Registry };
  if (holder[kRegistry]) return holder[kRegistry];
  const registry: Registry = { byName: new Map(), all: [] };
  holder[kRegistry] = registry;
  const Module = process.getBuiltinModule('node:module') as unknown as ModuleInternals;
  const load = Module._load;
  Module._load = function (this: unknown, request: string, parent: unknown, isMain: boolean) {
    // eslint-disable-next-line prefer-rest-params
    const exports = load.apply(this, arguments as unknown as [string, unknown, boolean]);
    const named = registry.byName.get(request);
    if (named !== undefined) {
      for (const target of named) apply(target, exports);
    } else if (request.charCodeAt(0) === 47 /* an absolute path: an ES module importing a CommonJS file */) {
      for (const target of registry.all) if (request.endsWith(target.suffix)) apply(target, exports);
    }
    return exports;
  };
  return registry;
}

function apply(target: Target, exports: unknown): void {
  if ((typeof exports !== 'object' && typeof exports !== 'function') || exports === null) return;
  if (target.patched.has(exports)) return;
  target.patched.add(exports);
  try {
    target.patch(exports);
  } catch {
    // A version we do not know: leave the module as it is rather than break the app.
  }
}
