// Benchmark: catalog.search latency (p50/p95/max) for random bbox + time + GSD queries over 1,000,000
// synthetic rows in server PostGIS and 100,000 in embedded PGlite; the same SQL's EXPLAIN ANALYZE
// time (the reference: what the database itself spends) and a bare query, measured in the same run. Usage:
//   npm run bench -- catalog-search [serverRows=1000000] [pgliteRows=100000] [queries=500]
import { synth, type Workspace } from '../kernel-lib/src/index';
import { benchServices, benchWorkspace, cleanup, machine, percentile, table } from './support/services';

const serverRows = Number(process.argv[2] ?? 1_000_000);
const pgliteRows = Number(process.argv[3] ?? 100_000);
const queries = Number(process.argv[4] ?? 500);
const WARMUP = 50;

/**
 * Rows as ingest would write them, straight in SQL: footprints of 1,000–10,000 pixel images at
 * 0.1–2 m GSD (100 m to 20 km across) spread uniformly over South Korea's mainland box, capture
 * times uniform over five years (2020–2024). The indexes are dropped for the load and re-created
 * with their own definitions from the migrations (far faster than maintaining them row by row).
 */
async function load(w: Workspace, rows: number): Promise<number> {
  const start = performance.now();
  const indexes = await w.db.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'image_metadata' AND indexname <> 'image_metadata_pkey'`
  );
  for (const i of indexes) {
    await w.db.query(`DROP INDEX ${i.indexname}`);
  }
  const batch = 250_000;
  for (let first = 1; first <= rows; first += batch) {
    const last = Math.min(rows, first + batch - 1);
    await w.db.query(
      `INSERT INTO image_metadata (project, object_key, etag, size, modified_at, format, width, height, bands, data_type,
         compression, tiled, overviews, is_cog, crs_epsg, transform, gsd_x, gsd_y, footprint, centroid, capture_time,
         capture_time_source)
       SELECT $1, 'flights/img_' || lpad(g::text, 7, '0') || '.tif', md5(g::text), w * w * 3 / 4, now(), 'GTiff', w, w, 3, 'uint8',
         'DEFLATE', true, 4, true, 5186, NULL, gsd, gsd,
         ST_Multi(ST_MakeEnvelope(lon, lat, lon + w * gsd / (111320 * cos(radians(lat))), lat + w * gsd / 110540, 4326)),
         ST_SetSRID(ST_MakePoint(lon + w * gsd / (222640 * cos(radians(lat))), lat + w * gsd / 221080), 4326),
         t, 'tiff-datetime'
       FROM (SELECT g, 126.1 + random() * 3.3 AS lon, 34.6 + random() * 3.6 AS lat,
                    round((0.1 + random() * 1.9)::numeric, 3)::float8 AS gsd, (1000 + floor(random() * 9000))::int AS w,
                    timestamptz '2020-01-01' + random() * interval '1826 days' AS t
             FROM generate_series($2::int, $3::int) g) s`,
      [w.project, first, last]
    );
    process.stdout.write(`\r  loaded ${last.toLocaleString('en')} rows`);
  }
  process.stdout.write('\n');
  for (const i of indexes) {
    await w.db.query(i.indexdef);
  }
  await w.db.query('VACUUM ANALYZE image_metadata');
  return (performance.now() - start) / 1000;
}

interface ISample {
  api: number;
  bare: number;
  execution: number;
  planning: number;
  results: number;
}

async function run(name: string, w: Workspace, rows: number): Promise<{ name: string; rows: number; samples: ISample[]; loadS: number }> {
  console.log(`${name}: loading ${rows.toLocaleString('en')} rows`);
  const loadS = await load(w, rows);
  console.log(`  loaded and indexed in ${loadS.toFixed(1)} s; ${WARMUP} warm-up queries, then ${queries} measured`);
  // Record the SQL the real API sends, to run it again bare and under EXPLAIN ANALYZE.
  let last: { sql: string; params: unknown[] } | undefined;
  const query = w.db.query.bind(w.db);
  (w.db as { query: typeof query }).query = ((sql: string, params: unknown[] = []) => {
    last = { sql, params };
    return query(sql, params);
  }) as typeof query;
  const random = synth.createRandom(`catalog-search-${name}`);
  const samples: ISample[] = [];
  for (let q = 0; q < WARMUP + queries; q++) {
    // A 2–30 km box somewhere in Korea, a one-month to one-year window, a GSD band.
    const size = random.range(0.02, 0.3);
    const west = random.range(126.1, 129.4 - size);
    const south = random.range(34.6, 38.2 - size);
    const from = new Date(Date.UTC(2020, 0, 1) + random.range(0, 1826) * 86400e3);
    const to = new Date(from.getTime() + random.range(30, 365) * 86400e3);
    const minGsd = random.range(0.1, 1);
    const maxGsd = minGsd + random.range(0.25, 1);
    const started = performance.now();
    const page = await w.catalog.search({ bbox: [west, south, west + size, south + size], from, to, minGsd, maxGsd, limit: 100 });
    const api = performance.now() - started;
    const { sql, params } = last!;
    const bareStart = performance.now();
    await query(sql, params);
    const bare = performance.now() - bareStart;
    const [plan] = await query<{ 'QUERY PLAN': [{ 'Execution Time': number; 'Planning Time': number }] }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`,
      params
    );
    const p = plan['QUERY PLAN'][0];
    if (q >= WARMUP) {
      samples.push({ api, bare, execution: p['Execution Time'], planning: p['Planning Time'], results: page.images.length });
    }
  }
  (w.db as { query: typeof query }).query = query;
  return { name, rows, samples, loadS };
}

async function main() {
  const services = benchServices();
  console.log(`catalog search latency: ${machine()}\n`);
  const results = [];
  results.push(await run('PostGIS server', await benchWorkspace(services, { database: 'server' }), serverRows));
  results.push(await run('PGlite embedded', await benchWorkspace(services, { database: 'embedded' }), pgliteRows));

  const ms = (x: number) => x.toFixed(2);
  console.log(`\nsearch latency, ms over ${queries} random bbox (2–30 km) + time (1–12 months) + GSD-band queries, limit 100`);
  const rows: (string | number)[][] = [['', 'rows', 'measured', 'p50', 'p95', 'max', 'p50 ÷ EXPLAIN']];
  for (const r of results) {
    const col = (f: (s: ISample) => number) => r.samples.map(f);
    const db = col(s => s.execution + s.planning);
    const lines: [string, number[]][] = [
      ['catalog.search (the API)', col(s => s.api)],
      ['same SQL, bare pg query', col(s => s.bare)],
      ['EXPLAIN ANALYZE planning + execution', db],
      ['EXPLAIN ANALYZE execution only', col(s => s.execution)]
    ];
    for (const [what, xs] of lines) {
      rows.push([r.name, r.rows.toLocaleString('en'), what, ms(percentile(xs, 50)), ms(percentile(xs, 95)), ms(Math.max(...xs)),
        `${(percentile(xs, 50) / percentile(db, 50)).toFixed(1)}x`]);
    }
    const hits = col(s => s.results);
    rows.push([r.name, '', `results per page: p50 ${percentile(hits, 50)}, max ${Math.max(...hits)}; ${hits.filter(h => h === 0).length} empty`, '', '', '', '']);
  }
  console.log(table(rows));
  console.log(`\nclient overhead = catalog.search − EXPLAIN (pg protocol, row decoding, GeoJSON mapping); ${machine()}`);
  console.log('goal (issue 3): p95 < 5 ms for both');
}

main()
  .catch(error => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
