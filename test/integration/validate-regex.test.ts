// The cheap SQL form of one-class regexes (validate/regex-sql.ts) against PostgreSQL's own `~`,
// which is what GE's SQL data source runs: for every pattern of the subset and every string built
// to break the rewrite (newlines at either end, case, multibyte characters, lengths around the
// bounds, characters next to the ranges) plus thousands of random strings, both must give the same
// answer, null included — on server PostgreSQL and on embedded PGlite.
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../../kernel-lib/src/db/database';
import { ensureEmbeddedDatabase, stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { classPattern, classPatternSql } from '../../kernel-lib/src/validate/regex-sql';
import { tempDir, testServices } from '../helpers';

const services = testServices();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) {
    await c().catch(() => undefined);
  }
});

const PATTERNS = [
  '^[0-9a-f]{64}$',
  '^[0-9]{2,4}$',
  '^[abc]{0}$',
  '^[0-9]{3,}$',
  '^[x]{1}$',
  '^[a-zA-Z]{1,255}$',
  '^[fa-c0-2]{1,3}$',
  '^[_]{2}$',
  '^[^a]{2}$',
  '^[^0-9a-f]{1,3}$',
  '^[a-c ]{1,3}$',
  '^[.$^*]{1,2}$',
  '^[a-]{2,3}$',
  '^[é국😀a]{1,2}$',
  '^[A-Z0-9_]{0,5}$'
];

const HEX = '0123456789abcdef';
const hex = (n: number, seed: number) => Array.from({ length: n }, (_, i) => HEX[(i * 7 + seed) % 16]).join('');

/** Strings at the edges of the patterns above. */
const CRAFTED = [
  '',
  'a',
  'A',
  'x',
  'X',
  '0',
  '9',
  '/',
  ':',
  '@',
  '[',
  '`',
  '{',
  '_',
  '-',
  '^',
  '$',
  'g',
  'G',
  'abc',
  'abc\n',
  '\nabc',
  'ab\nc',
  'abc\r',
  'ab c',
  ' abc',
  'abc\t',
  'ä',
  'é',
  'e\u0301',
  '국',
  '😀',
  'a😀',
  '12',
  '123',
  '1234',
  '12345',
  '1\n2',
  hex(63, 1),
  hex(64, 2),
  hex(65, 3),
  hex(64, 4).toUpperCase(),
  `${hex(63, 5)}g`,
  `${hex(63, 6)}\n`,
  `\n${hex(63, 7)}`,
  `${hex(32, 8)}é${hex(31, 9)}`,
  'a'.repeat(255),
  'a'.repeat(256),
  'ABC_DEF_09',
  'abc_def'
];

/** Deterministic random strings over an alphabet of class characters and their neighbours. */
function randomStrings(count: number): string[] {
  const alphabet = [...'0123456789abcdefgxyzABCFGXZ_-/:@[`{.$^* \n\té국😀'];
  let state = 12345;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  return Array.from({ length: count }, () => {
    const length = Math.floor(next() * 8);
    // Mostly strings from one pattern's class, so matches are common, not just failures.
    const pool = next() < 0.5 ? alphabet.slice(0, 10 + Math.floor(next() * 17)) : alphabet;
    return Array.from({ length }, () => pool[Math.floor(next() * pool.length)]).join('');
  });
}

describe('the one-class regex subset', () => {
  it('takes a bracket expression with a bounded count, anchored at both ends', () => {
    expect(classPattern('^[0-9a-f]{64}$')).toEqual({ bracket: '[0-9a-f]', min: 64, max: 64 });
    expect(classPattern('^[0-9]{2,}$')).toEqual({ bracket: '[0-9]', min: 2, max: null });
    expect(classPattern('^[0-9]{2,4}$')).toEqual({ bracket: '[0-9]', min: 2, max: 4 });
    expect(classPattern('^[^a-z]{0,3}$')).toEqual({ bracket: '[^a-z]', min: 0, max: 3 });
    expect(classPatternSql('x', '^[0-9a-f]{64}$')).toBe("(char_length(x) = 64 AND x ~ '^[0-9a-f]*$')");
    expect(classPatternSql('x', "^[a']{1,2}$")).toBe("(char_length(x) >= 1 AND char_length(x) <= 2 AND x ~ '^[a'']*$')");
    for (const p of PATTERNS) {
      expect(classPattern(p), p).not.toBeNull();
    }
  });

  it('leaves everything else to the regex engine', () => {
    for (const p of [
      '^[0-9a-f]{64}', // not anchored at the end
      '[0-9a-f]{64}$',
      '^[a-z]+$', // no bounded count: already fast in the engine
      '^[a-z]*$',
      '^[a]?$',
      '^[a]$',
      '^\\d{3}$', // not a bracket expression
      '^.{3}$',
      '^[[:alpha:]]{3}$', // named classes, escapes, a leading ]
      '^[\\w]{3}$',
      '^[]a]{3}$',
      '^[^]a]{3}$',
      '^[a]{256}$', // over PostgreSQL's repetition limit
      '^[a]{5,3}$',
      '^[a]{064}$',
      '^[a]{,3}$',
      '(?i)^[a]{3}$',
      '***:^[a]{3}$',
      '^[a]{2}?$',
      '^[a]{2}{3}$',
      '^[a][b]{2}$',
      '^[a]{2}[b]{2}$',
      '^abc{3}$',
      '^[a]{3}$|^b$'
    ]) {
      expect(classPattern(p), p).toBeNull();
      expect(classPatternSql('x', p), p).toBeNull();
    }
  });
});

describe('the rewrite answers as PostgreSQL\'s ~', () => {
  const backends: [string, () => Promise<string>][] = [
    [
      'PGlite',
      async () => {
        const home = tempDir('changelab-validate-regex-');
        cleanups.push(() => stopEmbeddedDatabase(path.join(home, '.changelab')));
        return ensureEmbeddedDatabase(path.join(home, '.changelab'));
      }
    ]
  ];
  if (services) {
    backends.push(['PostgreSQL', async () => services.databaseUrl]);
  }

  describe.each(backends)('%s', (_name, url) => {
    let db: Database;
    beforeAll(async () => {
      db = new Database(await url(), 'server', { max: 1 });
      cleanups.push(() => db.close());
    }, 120_000);

    it('on crafted and random strings, and on null', async () => {
      const strings = [...CRAFTED, ...randomStrings(3000)];
      let matches = 0;
      for (const pattern of PATTERNS) {
        const cheap = classPatternSql('s', pattern)!;
        const rows = await db.query<{ s: string | null; engine: boolean | null; ours: boolean | null }>(
          `SELECT s, s ~ $2 AS engine, ${cheap} AS ours FROM unnest($1::text[]) AS u(s)
           UNION ALL SELECT NULL, NULL::text ~ $2, (SELECT ${cheap} FROM (SELECT NULL::text AS s) n)`,
          [strings, pattern]
        );
        expect(rows).toHaveLength(strings.length + 1);
        const differ = rows.filter(r => r.engine !== r.ours);
        expect(differ, `${pattern}: ${JSON.stringify(differ.slice(0, 5))}`).toEqual([]);
        expect(rows.at(-1)).toEqual({ s: null, engine: null, ours: null });
        matches += rows.filter(r => r.engine === true).length;
      }
      // The strings do hit the patterns: the comparison is not all "no match".
      expect(matches).toBeGreaterThan(1000);
    });
  });
});
