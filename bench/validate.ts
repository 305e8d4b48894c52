// Benchmark: a 12-expectation suite on a 1,000,000-row image_metadata (server PostGIS), ours
// against Great Expectations 1.x (.venv-oracles-ge) with its SQL data source and its pandas data
// source, in the same run, each in its own process (so peak RSS is its own). Ours runs by SQL
// pushdown on the table, and in memory on the same rows the pandas run reads. The outcomes of all
// four are compared (success and counts) before any time is printed. Usage:
//   npm run bench -- validate [rows=1000000] [repeats=3] [--db postgres://.../name]
// With --db the runs use that database (a workspace database, migrated here): the rows are loaded
// once, when its image_metadata is empty, and the database is kept, so repeated runs (and runs of
// two versions of the code) measure the same rows.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { connect, type Workspace } from '../kernel-lib/src/index';
import { runGe } from '../test/kernel-lib/validate/oracle';
import { benchServices, benchWorkspace, cleanup, machine, median, onCleanup, ROOT, spread, table } from './support/services';

const flag = process.argv.indexOf('--db');
const keptDb = flag >= 0 ? process.argv[flag + 1] : undefined;
const positional = process.argv.slice(2).filter((_, i, all) => all[i] !== '--db' && all[i - 1] !== '--db');
const rows = Number(positional[0] ?? 1_000_000);
const repeats = Number(positional[1] ?? 3);
if (flag >= 0 && !keptDb) {
  throw new Error('--db needs a database URL');
}

// Standard expectations only, so GE runs exactly the same suite.
const SUITE = {
  name: 'bench_image_metadata',
  expectations: [
    ['expect_table_row_count_to_be_between', { min_value: 1 }],
    ['expect_column_values_to_not_be_null', { column: 'object_key' }],
    ['expect_column_values_to_be_unique', { column: 'object_key' }],
    ['expect_column_value_lengths_to_be_between', { column: 'object_key', min_value: 1, max_value: 1024 }],
    ['expect_column_values_to_be_in_set', { column: 'format', value_set: ['GTiff', 'BigTIFF', 'JPEG', 'PNG'] }],
    ['expect_column_values_to_be_between', { column: 'gsd', min_value: 0, max_value: 1.0, mostly: 0.4 }],
    ['expect_column_values_to_be_between', { column: 'gps_lat', min_value: -90, max_value: 90 }],
    ['expect_column_values_to_be_between', { column: 'gps_lon', min_value: -180, max_value: 180 }],
    ['expect_column_values_to_be_between', { column: 'width', min_value: 1, max_value: 100000 }],
    ['expect_column_values_to_match_regex', { column: 'sha256', regex: '^[0-9a-f]{64}$' }],
    ['expect_column_mean_to_be_between', { column: 'gsd', min_value: 0, max_value: 2 }],
    ['expect_column_max_to_be_between', { column: 'bands', max_value: 16 }]
  ].map(([type, kwargs], i) => ({ type, kwargs, meta: { i } }))
};
const VIEW = 'image_metadata_columns';
const COLUMNS = 'object_key, format, gsd::float8 AS gsd, gps_lat, gps_lon, width, sha256, bands';

/** Rows as ingest writes them (see catalog-search.ts), with GPS on 90% and checksums on 99%. */
async function load(w: Workspace, n: number): Promise<number> {
  const start = performance.now();
  const batch = 250_000;
  for (let first = 1; first <= n; first += batch) {
    const last = Math.min(n, first + batch - 1);
    await w.db.query(
      `INSERT INTO image_metadata (project, object_key, etag, size, modified_at, format, width, height, bands, data_type,
         compression, tiled, overviews, is_cog, crs_epsg, gsd_x, gsd_y, footprint, capture_time, gps_lat, gps_lon, sha256)
       SELECT $1, 'flights/img_' || lpad(g::text, 7, '0') || '.tif', md5(g::text), w * w * 3 / 4, now(), 'GTiff', w, w, 3, 'uint8',
         'DEFLATE', true, 4, true, 5186, gsd, gsd,
         ST_Multi(ST_MakeEnvelope(lon, lat, lon + w * gsd / (111320 * cos(radians(lat))), lat + w * gsd / 110540, 4326)),
         t, CASE WHEN g % 10 = 0 THEN NULL ELSE lat END, CASE WHEN g % 10 = 0 THEN NULL ELSE lon END,
         CASE WHEN g % 100 = 0 THEN NULL ELSE md5(g::text) || md5((g + 1)::text) END
       FROM (SELECT g, 126.1 + random() * 3.3 AS lon, 34.6 + random() * 3.6 AS lat,
                    round((0.1 + random() * 1.9)::numeric, 3)::float8 AS gsd, (1000 + floor(random() * 9000))::int AS w,
                    timestamptz '2020-01-01' + random() * interval '1826 days' AS t
             FROM generate_series($2::int, $3::int) g) s`,
      [w.project, first, last]
    );
    process.stdout.write(`\r  loaded ${last.toLocaleString('en')} rows`);
  }
  process.stdout.write('\n');
  await w.db.query('VACUUM ANALYZE image_metadata');
  return (performance.now() - start) / 1000;
}

/**
 * GE's SQL data source cannot validate image_metadata itself: PostGIS geometry columns reflect
 * as SQLAlchemy's NullType and its table.column_types metric fails ("Can't generate DDL for
 * NullType()"). Both SQL runs therefore validate this plain view of the other columns (inlined
 * by the planner: the same scan of image_metadata).
 */
async function createView(w: Workspace): Promise<void> {
  await w.db.query(`CREATE OR REPLACE VIEW ${VIEW} AS SELECT object_key, format, gsd, gps_lat, gps_lon, width, sha256, bands FROM image_metadata`);
}

interface IMeasure {
  seconds: number;
  readSeconds: number;
  maxRssKiB: number;
  results: { success: boolean; element_count?: number; unexpected_count?: number; missing_count?: number }[];
}

async function ours(mode: 'sql' | 'memory', url: string, suiteFile: string): Promise<IMeasure> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, 'support', 'validate-child.ts'), mode, url, VIEW, suiteFile, `SELECT ${COLUMNS} FROM image_metadata`],
    { cwd: ROOT, maxBuffer: 64 << 20 }
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as IMeasure;
}

async function ge(mode: 'sql' | 'pandas', url: string): Promise<IMeasure> {
  const response =
    mode === 'sql'
      ? await runGe({ suite: SUITE, databaseUrl: url, table: VIEW, resultFormat: 'SUMMARY' })
      : await runGe({ suite: SUITE, pandasSql: { url, query: `SELECT ${COLUMNS} FROM image_metadata` }, resultFormat: 'SUMMARY' });
  const v = (mode === 'sql' ? response.sql : response.pandas)!;
  const failed = v.results.find(r => JSON.stringify(r.exception_info).includes('"raised_exception":true'));
  if (failed) {
    console.log(`  GE ${mode} raised on ${failed.expectation_config.type}: ${JSON.stringify(failed.exception_info).match(/"exception_message":"[^"]*"/)?.[0] ?? "?"}`);
  }
  const byIndex = new Map(v.results.map(r => [Number(r.expectation_config.meta.i), r]));
  return {
    seconds: mode === 'sql' ? response.timings.sql! : response.timings.pandas!,
    readSeconds: mode === 'sql' ? 0 : response.timings.pandas_read!,
    maxRssKiB: response.maxRssKiB,
    results: SUITE.expectations.map((_, i) => {
      const r = byIndex.get(i)!;
      return { success: r.success, ...(r.result as { element_count?: number; unexpected_count?: number; missing_count?: number }) };
    })
  };
}

async function main() {
  const services = benchServices();
  console.log(`validation of a ${SUITE.expectations.length}-expectation suite on ${rows.toLocaleString('en')} image_metadata rows: ${machine()}\n`);
  let w: Workspace;
  if (keptDb) {
    w = await connect({ cwd: os.tmpdir(), env: { CHANGELAB_DATABASE_URL: keptDb } });
    onCleanup(() => w.close());
  } else {
    w = await benchWorkspace(services, { database: 'server' });
  }
  const url = (w.config.databaseUrl as string) ?? '';
  const [{ n: present }] = await w.db.query<{ n: number }>('SELECT count(*)::int AS n FROM image_metadata');
  if (present === 0) {
    const loadS = await load(w, rows);
    console.log(`  loaded in ${loadS.toFixed(1)} s`);
  } else if (present !== rows) {
    throw new Error(`${keptDb} holds ${present} image_metadata rows, not ${rows}: use another database`);
  } else {
    console.log(`  using the ${present.toLocaleString('en')} rows already in ${keptDb!.replace(/\/\/[^@]*@/, '//')}`);
  }
  await createView(w);
  const suiteFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'changelab-bench-validate-')), 'suite.json');
  fs.writeFileSync(suiteFile, JSON.stringify(SUITE));

  const runs: Record<string, IMeasure[]> = { 'ours, SQL pushdown': [], 'GE 1.24.1, SQL data source': [], 'ours, in memory': [], 'GE 1.24.1, pandas data source': [] };
  for (let r = 0; r < repeats; r++) {
    runs['ours, SQL pushdown'].push(await ours('sql', url, suiteFile));
    runs['GE 1.24.1, SQL data source'].push(await ge('sql', url));
    runs['ours, in memory'].push(await ours('memory', url, suiteFile));
    runs['GE 1.24.1, pandas data source'].push(await ge('pandas', url));
    console.log(`  round ${r + 1} of ${repeats} done: ours SQL ${runs['ours, SQL pushdown'][r].seconds.toFixed(2)} s, GE SQL ${runs['GE 1.24.1, SQL data source'][r].seconds.toFixed(2)} s, ours in memory ${runs['ours, in memory'][r].seconds.toFixed(2)} s, GE pandas ${runs['GE 1.24.1, pandas data source'][r].seconds.toFixed(2)} s; load average ${os.loadavg().map(l => l.toFixed(1)).join(' ')}`);
  }

  // The same answers first: success and counts of every expectation, ours against GE's.
  const key = (m: IMeasure) => JSON.stringify(m.results.map(x => [x.success, x.element_count, x.unexpected_count, x.missing_count]));
  const reference = key(runs['GE 1.24.1, SQL data source'][0]);
  for (const [name, ms] of Object.entries(runs)) {
    const same = ms.every(m => key(m) === reference);
    console.log(`  ${name}: ${same ? 'same outcomes as GE SQL' : `DIFFERENT outcomes: ${key(ms[0])} vs ${reference}`}`);
  }

  const fastestGe = Math.min(median(runs['GE 1.24.1, SQL data source'].map(m => m.seconds)), median(runs['GE 1.24.1, pandas data source'].map(m => m.seconds)));
  const out: (string | number)[][] = [['', 'validate s, median (min–max)', 'read rows s', 'peak RSS MiB', 'vs GE SQL', 'vs GE pandas', 'vs faster GE']];
  const geSql = median(runs['GE 1.24.1, SQL data source'].map(m => m.seconds));
  const gePandas = median(runs['GE 1.24.1, pandas data source'].map(m => m.seconds));
  for (const [name, ms] of Object.entries(runs)) {
    const s = median(ms.map(m => m.seconds));
    out.push([
      name,
      spread(ms.map(m => m.seconds), 2),
      ms[0].readSeconds ? spread(ms.map(m => m.readSeconds), 2) : '—',
      (Math.max(...ms.map(m => m.maxRssKiB)) / 1024).toFixed(0),
      `${(geSql / s).toFixed(1)}x`,
      `${(gePandas / s).toFixed(1)}x`,
      `${(fastestGe / s).toFixed(1)}x`
    ]);
  }
  console.log(`\n${table(out)}`);
  console.log(`\n"vs" = GE's time / this time (higher is faster); pandas/in-memory times exclude reading the rows (own column).`);
  console.log(`goal (issue 4): >= 5x faster than GE's faster data source; ${machine()}`);
}

main()
  .catch(error => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
