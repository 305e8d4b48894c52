// A cheaper SQL form of the regexes people write for digests and codes: a whole value of one
// character class repeated a bounded number of times, `^[0-9a-f]{64}$`, `^[A-Z0-9]{2,8}$`.
// PostgreSQL's regex engine is slow on bounded repetition: `^[0-9a-f]{64}$` costs about 11 µs a
// row, while `^[0-9a-f]*$` costs about 1 µs (measured on 1,000,000 image_metadata rows as backend
// CPU time). So the count moves out of the regex into the length:
//
//   x ~ '^[C]{n,m}$'   is   char_length(x) >= n AND char_length(x) <= m AND x ~ '^[C]*$'
//
// This is exact for PostgreSQL's `~` (what GE's SQL data source runs) whatever the class C holds,
// because a bracket expression always matches exactly one character: a string matches ^C{n,m}$ if
// and only if it has n to m characters and each of them is in C. The class is passed on verbatim,
// so PostgreSQL still decides what C means (ranges, negation, collation); `^` and `$` anchor at
// the ends of the string (`~` is not newline-sensitive); char_length counts characters (code
// points) as the regex engine does. A class holding `[` or `\` (named classes, escapes) or a `]`
// first is not taken, nor counts over PostgreSQL's limit of 255 or with m < n (errors there, so
// left to `~` to raise them), nor anything else: the caller then uses `~` as written.
// test/integration/validate-regex.test.ts compares the two forms on PostgreSQL and PGlite.

/** A pattern of the subset: the bracket expression and the length bounds. */
export interface IClassPattern {
  /** The bracket expression, brackets included, as written: `[0-9a-f]`. */
  bracket: string;
  min: number;
  max: number | null;
}

/** PostgreSQL's DUPMAX: the largest count a bound may have. */
const DUPMAX = 255;

/** The pattern as a class and bounded length, or null when it is outside the subset. */
export function classPattern(pattern: string): IClassPattern | null {
  const m = /^\^(\[\^?[^\]\\[][^\]\\[]*\])\{(\d{1,3})(?:(,)(\d{1,3})?)?\}\$$/.exec(pattern);
  if (!m) {
    return null;
  }
  const [, bracket, n, comma, mx] = m;
  if (/^0\d/.test(n) || (mx !== undefined && /^0\d/.test(mx))) {
    return null; // leading zeros: left to the engine
  }
  const min = Number(n);
  const max = comma === undefined ? min : mx === undefined ? null : Number(mx);
  if (min > DUPMAX || (max !== null && (max > DUPMAX || max < min))) {
    return null;
  }
  return { bracket, min, max };
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
  parts.push(`${text} ~ '${`^${p.bracket}*$`.replace(/'/g, "''")}'`);
  return `(${parts.join(' AND ')})`;
}
