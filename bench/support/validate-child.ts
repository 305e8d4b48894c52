// One of our validation runs in its own process, so its peak RSS is its own: `sql` validates the
// table by pushdown; `memory` reads the same rows the GE pandas run reads, then validates them in
// memory. Prints one JSON line: seconds, readSeconds, maxRssKiB and the per-expectation counts.
import * as fs from 'fs';
import { Database } from '../../kernel-lib/src/db/database';
import { ExpectationSuite, validateRows, validateTable } from '../../kernel-lib/src/validate';

async function main() {
  const [mode, url, table, suiteFile, query] = process.argv.slice(2);
  const suite = ExpectationSuite.fromJSON(fs.readFileSync(suiteFile, 'utf8'));
  const db = new Database(url, 'server', { max: 2 });
  let readSeconds = 0;
  const start = performance.now();
  let result;
  if (mode === 'sql') {
    result = await validateTable(db, suite, { table }, { resultFormat: 'SUMMARY' });
  } else {
    const rows = await db.query(query);
    readSeconds = (performance.now() - start) / 1000;
    result = validateRows(suite, { rows, columns: Object.keys(rows[0] ?? {}) }, { resultFormat: 'SUMMARY' });
  }
  const seconds = (performance.now() - start) / 1000 - readSeconds;
  await db.close();
  console.log(
    JSON.stringify({
      seconds,
      readSeconds,
      maxRssKiB: process.resourceUsage().maxRSS,
      results: result.results.map(r => ({
        type: r.expectation_config.type,
        success: r.success,
        element_count: r.result.element_count,
        unexpected_count: r.result.unexpected_count,
        missing_count: r.result.missing_count,
        observed_value: r.result.observed_value
      }))
    })
  );
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
