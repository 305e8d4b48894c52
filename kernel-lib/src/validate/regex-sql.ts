// A cheaper SQL test for the regexes people write for digests and codes: a whole value made of
// one character class, `^[0-9a-f]{64}$`, `^[A-Z0-9_]+$`, `^[0-9]{4,8}$`. PostgreSQL's regex engine
// spends microseconds a row on such a pattern (3.7 s of 6.7 s of a 300,000-row suite); the same
// answer comes from the value's length and `ltrim` of the class's characters.
//
// The rewrite is exact for PostgreSQL's `~` (what GE's SQL data source runs), and it only applies
// to patterns of the form ^ [class] quantifier $ where:
//  - `^` and `$` anchor at the start and end of the string (`~` is not newline-sensitive, so a
//    trailing newline is a character like any other: `$` does not match before it);
//  - the class holds only ASCII letters, digits and `_`, and ranges a-z / A-Z / 0-9 within one
//    kind (ranges are by code point in PostgreSQL's engine; `~` is case-sensitive), so no
//    locale-dependent class (`\d`, `[:alpha:]`) and no collation plays a part;
//  - the quantifier is none (one character), `+`, `*`, `?`, `{n}`, `{n,}` or `{n,m}` with counts up
//    to 255 (PostgreSQL's limit: larger counts are an error there, so they are left to `~`).
// Lengths are in characters (code points), as the regex engine counts; `ltrim` removes leading
// characters of the set, multibyte-aware, so the rest is empty exactly when every character is in
// the class. Anything else returns null and the caller uses `~`. test/integration/validate-regex
// compares the two on PostgreSQL itself, over strings built to break the rewrite. (One case is
// not the same: on a column with a nondeterministic collation `~` refuses to run, the rewrite
// does not.)

/** A pattern of the subset: the class's characters and the length bounds. */
export interface IClassPattern {
  chars: string;
  min: number;
  max: number | null;
}

/** PostgreSQL's DUPMAX: the largest count a bound may have. */
const DUPMAX = 255;

const kindOf = (c: string) => (/[0-9]/.test(c) ? 'digit' : /[a-z]/.test(c) ? 'lower' : /[A-Z]/.test(c) ? 'upper' : null);

/** The pattern as a class and length bounds, or null when it is outside the subset. */
export function classPattern(pattern: string): IClassPattern | null {
  const m = /^\^\[([0-9A-Za-z_-]+)\](?:(\+|\*|\?)|\{(\d{1,3})(?:(,)(\d{1,3})?)?\})?\$$/.exec(pattern);
  if (!m) {
    return null;
  }
  const body = m[1];
  const chars = new Set<string>();
  // Items: a character, or a range x-y of one kind. A '-' anywhere else is refused (it would be
  // a literal at the ends, and an error or a range elsewhere: not worth telling apart).
  const items = /([0-9A-Za-z_])(?:-([0-9A-Za-z]))?/gy;
  let at = 0;
  while (at < body.length) {
    items.lastIndex = at;
    const item = items.exec(body);
    if (!item) {
      return null;
    }
    const [, lo, hi] = item;
    if (hi === undefined) {
      chars.add(lo);
    } else {
      const kind = kindOf(lo);
      if (kind === null || kind !== kindOf(hi) || lo > hi) {
        return null;
      }
      for (let c = lo.charCodeAt(0); c <= hi.charCodeAt(0); c++) {
        chars.add(String.fromCharCode(c));
      }
    }
    at = items.lastIndex;
  }
  const [, , op, n, comma, mx] = m;
  let min = 1;
  let max: number | null = 1;
  if (op === '+') {
    max = null;
  } else if (op === '*') {
    min = 0;
    max = null;
  } else if (op === '?') {
    min = 0;
  } else if (n !== undefined) {
    if (/^0\d/.test(n) || (mx !== undefined && /^0\d/.test(mx))) {
      return null; // leading zeros: left to the engine
    }
    min = Number(n);
    max = comma === undefined ? min : mx === undefined ? null : Number(mx);
    if (min > DUPMAX || (max !== null && (max > DUPMAX || max < min))) {
      return null;
    }
  }
  return { chars: [...chars].sort().join(''), min, max };
}

/**
 * SQL true when the text expression `text` matches `pattern` as PostgreSQL's `~` would (null on
 * null input, as `~`), or null when the pattern is outside the subset.
 */
export function classPatternSql(text: string, pattern: string): string | null {
  const p = classPattern(pattern);
  if (!p) {
    return null;
  }
  const parts: string[] = [];
  if (p.min === p.max) {
    parts.push(`char_length(${text}) = ${p.min}`);
  } else {
    if (p.min > 0) {
      parts.push(`char_length(${text}) >= ${p.min}`);
    }
    if (p.max !== null) {
      parts.push(`char_length(${text}) <= ${p.max}`);
    }
  }
  // The class holds only [0-9A-Za-z_]: no quote to escape.
  parts.push(`ltrim(${text}, '${p.chars}') = ''`);
  return `(${parts.join(' AND ')})`;
}
