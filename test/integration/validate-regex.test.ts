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
  '^[a-z]+$',
  '^[A-Z0-9_]*$',
  '^[0-9]{2,4}$',
  '^[a-c]?$',
  '^[abc]{0}$',
  '^[0-9]{3,}$',
  '^[x]$',
  '^[a-zA-Z]{1,255}$',
  '^[fa-c0-2]{1,3}$',
  '^[_]+$'
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
  const alphabet = [...'0123456789abcdefgxyzABCFGXZ_-/:@[`{ \n\té국😀'];
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
  it('takes the patterns of the subset, with their lengths', () => {
    expect(classPattern('^[0-9a-f]{64}$')).toEqual({ chars: HEX, min: 64, max: 64 });
    expect(classPattern('^[a-c]+$')).toEqual({ chars: 'abc', min: 1, max: null });
    expect(classPattern('^[a_]*$')).toEqual({ chars: '_a', min: 0, max: null });
    expect(classPattern('^[a]?$')).toEqual({ chars: 'a', min: 0, max: 1 });
    expect(classPattern('^[0-9]{2,}$')).toEqual({ chars: '0123456789', min: 2, max: null });
    expect(classPattern('^[0-9]{2,4}$')).toEqual({ chars: '0123456789', min: 2, max: 4 });
    expect(classPattern('^[x]$')).toEqual({ chars: 'x', min: 1, max: 1 });
    for (const p of PATTERNS) {
      expect(classPattern(p), p).not.toBeNull();
    }
  });

  it('leaves everything else to the regex engine', () => {
    for (const p of [
      '^[0-9a-f]{64}', // not anchored at the end
      '[0-9a-f]{64}$',
      '^\\d+$', // locale classes
      '^[[:alpha:]]+$',
      '^[\\w]+$',
      '^[^a]+$', // negated
      '^[a-]+$', // a '-' not in a range
      '^[-a]+$',
      '^[a-z-9]+$',
      '^[0-z]+$', // a range across kinds
      '^[z-a]+$', // a reversed range (an error in PostgreSQL)
      '^[_-a]+$',
      '^[a]{256}$', // over PostgreSQL's repetition limit
      '^[a]{5,3}$',
      '^[a]{064}$',
      '^[a]{,3}$',
      '(?i)^[a]$',
      '***:^[a]$',
      '^[a]+?$',
      '^[a]{2}{3}$',
      '^[a][b]$',
      '^[a.]+$',
      '^[é]+$',
      '^abc$',
      '^[a]+$|^b$'
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
