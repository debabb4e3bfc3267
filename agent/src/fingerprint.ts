// The fingerprint of an exception: one short, stable id for "the same fault", so errors group the way
// Sentry users expect. The exception's type plus where the app threw it (its first frame in the app's own
// code), or, when no frame is the app's, the type plus the message with its variable parts taken out.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export interface ExceptionFields {
  /** exception.type */
  type?: string | undefined;
  /** exception.message */
  message?: string | undefined;
  /** exception.stacktrace: V8's `stack`, header line first. */
  stack?: string | undefined;
}

export interface FingerprintOptions {
  /** The app's root directory: frame paths are taken relative to it, so two deploy paths agree. */
  root: string;
  /** Directories whose frames are never the app's (the agent's own files), besides node_modules. */
  skip?: readonly string[];
}

/** The hex digits kept: 64 bits, no collision in any realistic number of groups, short on a dashboard. */
const LENGTH = 16;

/**
 * `sha256(type + "\n" + frame)` (first 16 hex digits), where frame is `file:line function` of the first
 * stack frame in the app's code: not in node_modules, not Node's own (`node:internal/…`, `native`,
 * `<anonymous>`, eval), not in `skip`; the file relative to `root`; no column (it moves when an expression
 * on the line changes, and says nothing a second throw site on the same line would not). The line is kept:
 * one function often throws one type at several places (each validation), and those are different faults;
 * the price is that an edit above the throw in the same file starts a new group. Without such a frame (no
 * stack, or only library and Node frames), `type + "\n" + message` with numbers, hex ids, UUIDs and quoted
 * values replaced by placeholders, so `user 42 not found` and `user 97 not found` are one group.
 */
export function fingerprint(exception: ExceptionFields, options: FingerprintOptions): string {
  const type = exception.type ?? '';
  const frame = exception.stack === undefined ? undefined : firstAppFrame(exception.stack, options);
  const key = frame === undefined ? `${type}\n${normaliseMessage(exception.message ?? '')}` : `${type}\n${frame}`;
  return createHash('sha256').update(key).digest('hex').slice(0, LENGTH);
}

// `    at [async ][new ]name (location)` or `    at location`, location being `file:line:column`.
const FRAME = /^\s*at (?:async )?(?:(.+?) \()?(.+?):(\d+):\d+\)?$/;
const BRACKETED_ALIAS = / \[as [^\]]+\]$/;

/** `relative/file.js:12 functionName` of the first frame in the app's code, or undefined. */
export function firstAppFrame(stack: string, { root, skip = [] }: FingerprintOptions): string | undefined {
  const prefix = withSlash(root);
  for (const line of stack.split('\n')) {
    const match = FRAME.exec(line);
    if (match === null) continue;
    const [, name, location, lineNumber] = match;
    const file = filePath(location!);
    if (file === undefined || file.includes('/node_modules/') || file.includes('\\node_modules\\')) continue;
    if (skip.some((dir) => file.startsWith(withSlash(dir)))) continue;
    const relative = file.startsWith(prefix) ? file.slice(prefix.length) : file;
    const fn = name?.replace(BRACKETED_ALIAS, '') ?? '';
    return `${relative}:${lineNumber}${fn === '' ? '' : ` ${fn}`}`;
  }
  return undefined;
}

/** An absolute path for a frame in a file (a path or a file: URL); undefined for Node's own and eval frames. */
function filePath(location: string): string | undefined {
  if (location.startsWith('file://')) {
    try {
      return fileURLToPath(location);
    } catch {
      return undefined;
    }
  }
  // POSIX, or a Windows drive path.
  return location.startsWith('/') || /^[A-Za-z]:\\/.test(location) ? location : undefined;
}

function withSlash(dir: string): string {
  return dir.endsWith('/') || dir.endsWith('\\') ? dir : `${dir}/`;
}

const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
const QUOTED = /"[^"]*"|'[^']*'|`[^`]*`/g;
// Hex ids (object ids, hashes, addresses): six or more hex digits, at least one a decimal digit, so
// words such as "decade" or "facade" stay.
const HEX = /\b(?:0x)?[0-9a-f]{6,}\b/gi;
const NUMBER = /\d+(?:\.\d+)?/g;

/** The message with what varies between occurrences of one fault replaced by placeholders. */
export function normaliseMessage(message: string): string {
  return message
    .replace(UUID, '<uuid>')
    .replace(QUOTED, '<str>')
    .replace(HEX, (hex) => (/\d/.test(hex) ? '<hex>' : hex))
    .replace(NUMBER, '<n>')
    .trim();
}
