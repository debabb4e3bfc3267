// The operation (first SQL keyword) and the one collection (table) of an SQL statement, for span names and
// the db.operation.name / db.collection.name attributes, parsed once per distinct text: apps run the same
// statements again and again, so a small bounded cache makes this a Map lookup per query.
//
// Deliberately conservative: the stable conventions say a collection parsed from query text should only be
// reported when the call touches a single one, so any join, second FROM, subquery, table function or
// second statement yields no collection. The operation is the first word, upper-cased, as
// @opentelemetry/instrumentation-pg 0.77 reports it (its parseNormalizedOperationName), except that leading
// comments and parentheses are skipped and only letters count (upstream would report "(SELECT").

export interface SqlSummary {
  /** The statement's first keyword, upper-cased: SELECT, INSERT, BEGIN, WITH… */
  readonly operation: string | undefined;
  /** The single table the statement reads or writes, unquoted (`"public"."users"` → `public.users`). */
  readonly collection: string | undefined;
  /** `{operation} {collection}`, or whichever of the two is known; undefined when neither is. */
  readonly name: string | undefined;
}

const MAX_ENTRIES = 1000;
/** Longer texts are parsed but not kept: they are usually generated (bulk inserts) and rarely repeat. */
const MAX_CACHED_LENGTH = 4096;
/** Past this only the operation is read: a collection would need the whole text scanned on every call. */
const MAX_PARSED_LENGTH = 32_768;

const cache = new Map<string, SqlSummary>();

export function summarizeSql(sql: string): SqlSummary {
  const cached = cache.get(sql);
  if (cached !== undefined) return cached;
  const summary = sql.length > MAX_PARSED_LENGTH ? makeSummary(firstKeyword(sql), undefined) : parse(sql);
  if (sql.length <= MAX_CACHED_LENGTH) {
    // Oldest first out: a Map iterates in insertion order, so this is O(1) and keeps the hot statements,
    // which are re-inserted after eviction on their next call.
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(sql, summary);
  }
  return summary;
}

function makeSummary(operation: string | undefined, collection: string | undefined): SqlSummary {
  const name = operation !== undefined && collection !== undefined ? `${operation} ${collection}` : (operation ?? collection);
  return { operation, collection, name };
}

// Tokens: a word (keyword or bare identifier, kept as written), a quoted identifier, or one punctuation
// character. String literals, dollar-quoted bodies, comments and $n parameters are skipped entirely.
interface Token {
  kind: 'word' | 'quoted' | 'punct';
  text: string;
}

function parse(sql: string): SqlSummary {
  const tokens = tokenize(sql);
  const first = tokens.findIndex((t) => t.kind === 'word');
  if (first === -1) return makeSummary(undefined, undefined);
  const operation = tokens[first]!.text.toUpperCase();
  return makeSummary(operation, collectionOf(tokens, first, operation));
}

/** Just the first keyword, for texts too long to parse. */
function firstKeyword(sql: string): string | undefined {
  const match = /^[\s(]*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)[\s(]*)*([A-Za-z]+)/.exec(sql);
  return match?.[1]?.toUpperCase();
}

const TABLE_KEYWORDS_BY_OPERATION: Record<string, string[]> = {
  SELECT: ['FROM', 'JOIN'],
  INSERT: ['INTO', 'FROM', 'JOIN'],
  UPDATE: ['FROM', 'JOIN'],
  DELETE: ['FROM', 'USING', 'JOIN'],
  MERGE: ['INTO', 'USING', 'FROM', 'JOIN'],
};
/** Statements whose target follows the operation, possibly after TABLE, IF [NOT] EXISTS or ONLY. */
const DIRECT_TARGET = new Set(['UPDATE', 'TRUNCATE', 'LOCK', 'COPY', 'CREATE', 'DROP', 'ALTER']);
const SKIPPED_BEFORE_TARGET = new Set(['TABLE', 'ONLY', 'IF', 'NOT', 'EXISTS', 'UNLOGGED', 'TEMP', 'TEMPORARY']);
/** Words that can follow a table name without being its alias. */
const CLAUSE_WORDS = new Set([
  'WHERE', 'GROUP', 'ORDER', 'LIMIT', 'OFFSET', 'HAVING', 'WINDOW', 'UNION', 'INTERSECT', 'EXCEPT', 'FOR',
  'RETURNING', 'SET', 'VALUES', 'DEFAULT', 'SELECT', 'ON', 'USING', 'JOIN', 'INNER', 'LEFT', 'RIGHT', 'FULL',
  'CROSS', 'NATURAL', 'OVERRIDING', 'FETCH', 'FROM', 'TO', 'WITH', 'DO', 'AS', 'TABLESAMPLE',
]);

function collectionOf(tokens: Token[], first: number, operation: string): string | undefined {
  const tables = new Set<string>();
  let i = first + 1;

  if (DIRECT_TARGET.has(operation)) {
    // CREATE/DROP/ALTER only for tables: CREATE INDEX, DROP FUNCTION… name no collection.
    if ((operation === 'CREATE' || operation === 'DROP' || operation === 'ALTER') && !nextWordsInclude(tokens, i, 'TABLE', 4)) {
      return undefined;
    }
    while (i < tokens.length && tokens[i]!.kind === 'word' && SKIPPED_BEFORE_TARGET.has(tokens[i]!.text.toUpperCase())) i++;
    const name = qualifiedName(tokens, i);
    if (name === undefined) return undefined;
    // DROP TABLE a, b
    if (tokens[name.end]?.text === ',') return undefined;
    tables.add(name.text);
    i = name.end;
    // COPY t FROM STDIN and CREATE TABLE t (…) need nothing more; a CREATE TABLE … AS SELECT is checked below.
    if (operation === 'COPY') return tables.size === 1 ? name.text : undefined;
  }

  const tableKeywords = TABLE_KEYWORDS_BY_OPERATION[operation] ?? (tables.size === 1 ? ['FROM', 'JOIN', 'INTO'] : undefined);
  // SET, SHOW, BEGIN, WITH, EXPLAIN…: no collection we would name reliably.
  if (tableKeywords === undefined) return undefined;
  for (; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind === 'punct') {
      // A second statement: several operations, no single collection.
      if (token.text === ';' && i + 1 < tokens.length) return undefined;
      continue;
    }
    if (token.kind !== 'word') continue;
    const word = token.text.toUpperCase();
    if (word === 'SELECT' && tokens[i - 1]?.text === '(') return undefined; // a subquery
    if (!tableKeywords.includes(word)) continue;
    let at = i + 1;
    if (tokens[at]?.kind === 'word' && tokens[at]!.text.toUpperCase() === 'ONLY') at++;
    const name = qualifiedName(tokens, at);
    // FROM (subquery), FROM LATERAL …, FROM generate_series(…): nothing we can name.
    if (name === undefined || (word !== 'INTO' && tokens[name.end]?.text === '(')) return undefined;
    tables.add(name.text);
    if (tables.size > 1) return undefined;
    // FROM a, b  /  FROM a x, b y: a comma after the table or its alias lists another table.
    let after = name.end;
    if (tokens[after]?.kind === 'word' && tokens[after]!.text.toUpperCase() === 'AS') after++;
    if (tokens[after]?.kind !== 'punct' && tokens[after] !== undefined && !CLAUSE_WORDS.has(tokens[after]!.text.toUpperCase())) after++;
    if (tokens[after]?.text === ',' && word === 'FROM') return undefined;
    i = name.end - 1;
  }
  return tables.size === 1 ? tables.values().next().value : undefined;
}

function nextWordsInclude(tokens: Token[], from: number, word: string, within: number): boolean {
  for (let i = from; i < tokens.length && i < from + within; i++) if (tokens[i]!.kind === 'word' && tokens[i]!.text.toUpperCase() === word) return true;
  return false;
}

/** `name`, `"name"`, `schema.name`, `"schema"."name"` starting at tokens[at]; quotes removed. */
function qualifiedName(tokens: Token[], at: number): { text: string; end: number } | undefined {
  const head = tokens[at];
  if (head === undefined || head.kind === 'punct') return undefined;
  if (head.kind === 'word' && (CLAUSE_WORDS.has(head.text.toUpperCase()) || head.text.toUpperCase() === 'LATERAL')) return undefined;
  let text = head.text;
  let end = at + 1;
  while (tokens[end]?.text === '.' && tokens[end]!.kind === 'punct' && tokens[end + 1] !== undefined && tokens[end + 1]!.kind !== 'punct') {
    text += `.${tokens[end + 1]!.text}`;
    end += 2;
  }
  return { text, end };
}

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c <= 32) {
      i++;
    } else if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) {
      const eol = sql.indexOf('\n', i);
      i = eol === -1 ? n : eol + 1;
    } else if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      // PostgreSQL block comments nest.
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.startsWith('/*', i)) (depth++, (i += 2));
        else if (sql.startsWith('*/', i)) (depth--, (i += 2));
        else i++;
      }
    } else if (c === 39 /* ' */) {
      // E'…' escapes quotes with a backslash; the E was read as a one-letter word just before.
      const prev = tokens[tokens.length - 1];
      const backslashes = prev?.kind === 'word' && (prev.text === 'E' || prev.text === 'e') && (sql[i - 1] === 'E' || sql[i - 1] === 'e');
      if (backslashes) tokens.pop();
      i = skipString(sql, i, backslashes);
    } else if (c === 34 /* " */) {
      let j = i + 1;
      let text = '';
      for (;;) {
        const close = sql.indexOf('"', j);
        if (close === -1) {
          text += sql.slice(j);
          j = n;
          break;
        }
        text += sql.slice(j, close);
        if (sql.charCodeAt(close + 1) === 34) {
          text += '"';
          j = close + 2;
        } else {
          j = close + 1;
          break;
        }
      }
      tokens.push({ kind: 'quoted', text });
      i = j;
    } else if (c === 36 /* $ */) {
      i = skipDollar(sql, i);
    } else if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordPart(sql.charCodeAt(j))) j++;
      tokens.push({ kind: 'word', text: sql.slice(i, j) });
      i = j;
    } else {
      tokens.push({ kind: 'punct', text: sql[i]! });
      i++;
    }
  }
  return tokens;
}

function skipString(sql: string, start: number, backslashes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    if (backslashes && c === 92 /* \ */) i += 2;
    else if (c === 39) {
      if (sql.charCodeAt(i + 1) === 39) i += 2;
      else return i + 1;
    } else i++;
  }
  return i;
}

/** `$1` (a parameter), or a dollar-quoted body `$tag$…$tag$` / `$$…$$`. */
function skipDollar(sql: string, start: number): number {
  let i = start + 1;
  if (i < sql.length && sql.charCodeAt(i) >= 48 && sql.charCodeAt(i) <= 57) {
    while (i < sql.length && sql.charCodeAt(i) >= 48 && sql.charCodeAt(i) <= 57) i++;
    return i;
  }
  while (i < sql.length && isWordPart(sql.charCodeAt(i)) && sql.charCodeAt(i) !== 36) i++;
  if (sql.charCodeAt(i) !== 36) return i; // a lone $: not a quote
  const tag = sql.slice(start, i + 1);
  const close = sql.indexOf(tag, i + 1);
  return close === -1 ? sql.length : close + tag.length;
}

function isWordStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
}

function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57) || c === 36;
}
