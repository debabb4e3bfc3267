// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went within a time window: functions by
// self and inclusive time, and self time by package. Frames in agent/dist (an esbuild bundle that includes
// upstream OpenTelemetry packages) are mapped back through their source maps to the original file and package.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number; // 0-based
  columnNumber: number; // 0-based
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number; // µs, CLOCK_MONOTONIC: the same clock as process.hrtime in another process
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Frame {
  name: string;
  /** file:line after source mapping, shortened for reading. */
  location: string;
  /** npm package, '@lookout/agent', 'app', a node: module group, or a V8 pseudo-frame such as (garbage collector). Native code: its caller's. */
  pkg: string;
}

export interface Entry {
  frame: Frame;
  selfUs: number;
  totalUs: number;
}

export interface Summary {
  windowUs: number;
  /** Sampled time in the window that was not (idle). */
  busyUs: number;
  samples: number;
  functions: Entry[];
  packages: Array<{ pkg: string; selfUs: number }>;
}

export interface SummaryOptions {
  /** The window, in µs of CLOCK_MONOTONIC (process.hrtime.bigint() / 1000n). */
  fromUs: number;
  toUs: number;
  /** Directories whose files are "app" (the app and its bench folder). */
  appDirs: string[];
  /** The repository root, for shortening paths and recognising agent/. */
  repoDir: string;
}

const IDLE = '(idle)';
const NATIVE = '(native)';

export function summarise(profile: CpuProfile, options: SummaryOptions): Summary {
  const frames = new FrameResolver(options);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // Native code (V8 builtins, Node's C++ bindings and the system calls they make) has no file: it is
  // charged to the nearest JS caller's package, and its location says where it was called from.
  const frameOf = (node: ProfileNode): Frame => {
    const frame = frames.resolve(node.callFrame);
    if (frame.pkg !== NATIVE) return frame;
    for (let at = parent.get(node.id); at !== undefined; at = parent.get(at)) {
      const caller = frames.resolve(byId.get(at)!.callFrame);
      if (caller.location) return { name: frame.name, location: `native, from ${caller.location}`, pkg: caller.pkg };
    }
    return frame;
  };

  const nodeUs = sampledTimePerNode(profile, options.fromUs, options.toUs);
  const functions = new Map<string, Entry>();
  const entry = (node: ProfileNode): Entry => {
    const frame = frameOf(node);
    const key = `${frame.name}\u0000${frame.location}`;
    let e = functions.get(key);
    if (!e) functions.set(key, (e = { frame, selfUs: 0, totalUs: 0 }));
    return e;
  };

  let busyUs = 0;
  let samples = 0;
  for (const [id, us] of nodeUs) {
    const node = byId.get(id)!;
    samples += us.count;
    if (node.callFrame.functionName === IDLE) continue;
    busyUs += us.time;
    entry(node).selfUs += us.time;
    // Inclusive: every distinct function on the stack once, however often it recurses.
    const seen = new Set<Entry>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const e = entry(byId.get(at)!);
      if (!seen.has(e)) {
        seen.add(e);
        e.totalUs += us.time;
      }
    }
  }

  const packages = new Map<string, number>();
  for (const e of functions.values()) if (e.selfUs > 0) packages.set(e.frame.pkg, (packages.get(e.frame.pkg) ?? 0) + e.selfUs);
  return {
    windowUs: options.toUs - options.fromUs,
    busyUs,
    samples,
    functions: [...functions.values()].filter((e) => e.frame.name !== '(root)'),
    packages: [...packages].map(([pkg, selfUs]) => ({ pkg, selfUs })).sort((a, b) => b.selfUs - a.selfUs),
  };
}

/** Per node: the number of samples and the time they stand for (the gap to the next sample) within the window. */
function sampledTimePerNode(profile: CpuProfile, fromUs: number, toUs: number): Map<number, { count: number; time: number }> {
  const out = new Map<number, { count: number; time: number }>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t >= toUs) continue;
    const next = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    const acc = out.get(id) ?? { count: 0, time: 0 };
    acc.count++;
    acc.time += next;
    out.set(id, acc);
  }
  return out;
}

/** Turns V8 call frames into readable frames, through source maps for our own bundled code. */
class FrameResolver {
  private readonly maps = new Map<string, SourceMap | undefined>();
  private readonly cache = new Map<string, Frame>();

  constructor(private readonly options: SummaryOptions) {}

  resolve(cf: CallFrame): Frame {
    const key = `${cf.functionName}|${cf.url}|${cf.lineNumber}|${cf.columnNumber}`;
    let frame = this.cache.get(key);
    if (!frame) this.cache.set(key, (frame = this.build(cf)));
    return frame;
  }

  private build(cf: CallFrame): Frame {
    const name = cf.functionName || '(anonymous)';
    if (!cf.url) return { name, location: '', pkg: name.startsWith('(') ? name : NATIVE };
    if (cf.url.startsWith('node:')) return { name, location: `${cf.url}:${cf.lineNumber + 1}`, pkg: nodeGroup(cf.url) };
    const generated = cf.url.startsWith('file:') ? fileURLToPath(cf.url) : cf.url;
    const [path, line] = this.original(generated, cf.lineNumber, cf.columnNumber);
    return { name, location: `${this.shorten(path)}:${line + 1}`, pkg: this.pkgOf(path) };
  }

  /** The original file and 0-based line, where our dist has a source map; else the generated ones. */
  private original(path: string, line: number, column: number): [string, number] {
    if (!path.startsWith(resolve(this.options.repoDir, 'agent/dist'))) return [path, line];
    const map = this.sourceMap(path);
    const found = map?.findEntry(line, column);
    if (!found || !('originalSource' in found)) return [path, line];
    const source = found.originalSource.startsWith('file:') ? fileURLToPath(found.originalSource) : resolve(dirname(path), found.originalSource);
    return [source, found.originalLine];
  }

  private sourceMap(path: string): SourceMap | undefined {
    if (!this.maps.has(path)) {
      const file = `${path}.map`;
      this.maps.set(path, existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8'))) : undefined);
    }
    return this.maps.get(path);
  }

  private pkgOf(path: string): string {
    const at = path.lastIndexOf('/node_modules/');
    if (at >= 0) {
      const parts = path.slice(at + '/node_modules/'.length).split('/');
      return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
    }
    if (path.startsWith(resolve(this.options.repoDir, 'agent/src')) || path.startsWith(resolve(this.options.repoDir, 'agent/dist'))) return '@lookout/agent';
    if (this.options.appDirs.some((dir) => path.startsWith(dir))) return 'app';
    return relative(this.options.repoDir, path);
  }

  private shorten(path: string): string {
    const at = path.lastIndexOf('/node_modules/');
    if (at >= 0) return path.slice(at + '/node_modules/'.length);
    return path.startsWith(this.options.repoDir) ? relative(this.options.repoDir, path) : path;
  }
}

const LOGGING = new Set(['winston', 'winston-transport', 'logform', 'triple-beam', 'safe-stable-stringify', 'fecha', '@colors/colors', 'readable-stream', '@dabh/diagnostics']);

/** A coarse grouping of packages, for a one-line summary. */
export function category(pkg: string): string {
  if (pkg.startsWith('node:')) return 'Node core';
  if (pkg.startsWith('@opentelemetry/') || pkg.startsWith('@grpc/') || pkg.endsWith('-in-the-middle')) return 'OpenTelemetry SDK and exporters';
  if (pkg === '@lookout/agent') return 'Lookout agent';
  if (LOGGING.has(pkg)) return 'winston and logform';
  if (pkg === '(garbage collector)') return 'GC';
  if (pkg.startsWith('(')) return `V8 ${pkg}`;
  if (pkg === 'app') return 'app code';
  return 'other packages (koa, pg, …)';
}

/** node:internal/streams/writable → node:internal/streams; node:_http_server → node:_http_server. */
function nodeGroup(url: string): string {
  const parts = url.slice('node:'.length).split('/');
  return `node:${parts[0] === 'internal' && parts.length > 2 ? `internal/${parts[1]}` : parts.join('/')}`;
}
