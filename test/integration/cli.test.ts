// The `changelab` command line on the embedded default, as a user runs it from a terminal: the
// compiled CLI in a fresh workspace (CHANGELAB_HOME), ingesting a local folder of synthetic
// imagery, then search, pairs and quarantine as JSON.
import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { writeSyntheticSet } from '../../kernel-lib/src/synth';
import { tempDir } from '../helpers';

const CLI = path.resolve(__dirname, '..', '..', 'kernel-lib', 'lib', 'cli.js');
const home = tempDir('changelab-cli-');
const folder = tempDir('changelab-cli-data-');

async function changelab(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [CLI, ...args], {
    cwd: tempDir(),
    env: { PATH: process.env.PATH, CHANGELAB_HOME: home },
    maxBuffer: 16 << 20
  });
}

let manifest: Awaited<ReturnType<typeof writeSyntheticSet>>;
beforeAll(async () => {
  manifest = await writeSyntheticSet(folder, { size: 256 });
});
afterAll(async () => {
  await stopEmbeddedDatabase(home);
});

describe('changelab CLI (embedded workspace)', () => {
  it('ingests a local folder, indexing good files and quarantining bad ones', async () => {
    const { stdout } = await changelab('ingest', folder, '--json');
    const summary = JSON.parse(stdout);
    // Unreadable files and a GeoTIFF without georeference cannot be catalogued; a coarse GSD or
    // out-of-range GPS is readable and left to validation (a later stage) to judge. The set's own
    // manifest.json is not an image either: quarantined with that reason, not silently skipped.
    const unindexable = ['truncated', 'bad-magic', 'no-georeference', 'absurd-dimensions'];
    const badImages = manifest.files.filter(f => f.role === 'bad' && unindexable.includes(f.kind!)).length;
    expect(badImages).toBe(4);
    const expected = badImages + 1;
    expect(summary.listed).toBe(manifest.files.length + 1);
    expect(summary.quarantined).toBe(expected);
    expect(summary.indexed).toBe(summary.listed - expected);
  });

  it('searches by bbox and reports what it found as JSON', async () => {
    const { stdout } = await changelab('search', '--bbox=124,33,132,39', '--limit', '100', '--json');
    const page = JSON.parse(stdout);
    const keys: string[] = page.images.map((i: { key: string }) => i.key);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every(k => k.startsWith('file://'))).toBe(true);
    // nothing outside Korea
    const { stdout: none } = await changelab('search', '--bbox=-10,40,10,50', '--json');
    expect(JSON.parse(none).images).toEqual([]);
  });

  it('lists the quarantine with a reason for each file', async () => {
    const { stdout } = await changelab('quarantine', '--json');
    const rows = JSON.parse(stdout);
    const list = Array.isArray(rows) ? rows : rows.entries ?? rows.items;
    expect(list.length).toBeGreaterThan(0);
    for (const row of list) {
      expect(String(row.reason).length).toBeGreaterThan(5);
    }
    const manifestRow = list.find((r: { key?: string; objectKey?: string }) => (r.key ?? r.objectKey ?? '').endsWith('manifest.json'));
    expect(manifestRow, 'manifest.json is in the quarantine').toBeDefined();
  });

  it('rejects a malformed option with a usage message and exit code 2', async () => {
    const error = await changelab('search', '--bbox=1,2,3').catch(e => e);
    expect(error.code).toBe(2);
    expect(error.stderr).toContain('--bbox must be minx,miny,maxx,maxy');
  });
});
