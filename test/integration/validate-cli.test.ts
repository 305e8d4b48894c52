// `changelab validate` as a user runs it: the compiled CLI in a fresh embedded workspace. A folder
// of synthetic imagery is ingested without a gate, so the 5 m image and the off-Earth GPS
// position are in the catalog and the table suite must fail on them, with exit code 1.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { writeSyntheticSet } from '../../kernel-lib/src/synth';
import { tempDir } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'kernel-lib', 'lib', 'cli.js');
const TABLE_SUITE = path.join(ROOT, 'suites', 'table.json');
const home = tempDir('changelab-validate-cli-');
const folder = tempDir('changelab-validate-cli-data-');

function changelab(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { cwd: tempDir(), env: { PATH: process.env.PATH, CHANGELAB_HOME: home }, maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    );
  });
}

beforeAll(async () => {
  await writeSyntheticSet(folder, { size: 128, seed: 'validate-cli' });
  const { code } = await changelab('ingest', folder, '--json');
  expect(code).toBe(0);
});
afterAll(async () => {
  await stopEmbeddedDatabase(home);
});

describe('changelab validate (embedded workspace)', () => {
  it('fails the table suite on the policy breakers, names them, exits 1 and records the run', async () => {
    const text = await changelab('validate', TABLE_SUITE);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^FAILED image_metadata: \d+\/12 expectations met/);
    expect(text.stdout).toMatch(/FAIL expect_gsd_to_be_at_most \(gsd\): 1 of \d+ unexpected .*: 5/);

    const json = await changelab('validate', TABLE_SUITE, '--json', '--format', 'COMPLETE');
    expect(json.code).toBe(1);
    const result = JSON.parse(json.stdout);
    expect(result.statistics.evaluated_expectations).toBe(12);
    const gsd = result.results.find((r: { expectation_config: { type: string } }) => r.expectation_config.type === 'expect_gsd_to_be_at_most');
    expect(gsd.result.unexpected_list).toEqual([5]);

    const runs = JSON.parse((await changelab('validate', 'runs', '--json')).stdout);
    expect(runs).toHaveLength(2);
    expect(runs[0]).toMatchObject({ id: result.meta.run_id, suiteName: 'image_metadata', success: false, origin: 'cli' });
    const show = await changelab('validate', 'show', String(result.meta.run_id));
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('FAIL expect_gsd_to_be_at_most');
  });

  it('validates a rows file; --no-save records nothing', async () => {
    const rowsFile = path.join(tempDir(), 'rows.json');
    fs.writeFileSync(rowsFile, JSON.stringify([{ object_key: 'a', gsd: 0.5 }, { object_key: 'b', gsd: 0.8 }]));
    const suite = path.join(tempDir(), 'rows-suite.json');
    fs.writeFileSync(suite, JSON.stringify({ name: 'rows', expectations: [{ type: 'expect_gsd_to_be_at_most', kwargs: { max_value: 1 } }] }));
    const before = JSON.parse((await changelab('validate', 'runs', '--json')).stdout).length;
    const out = await changelab('validate', suite, '--rows', rowsFile, '--no-save');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^PASSED rows: 1\/1/);
    expect(JSON.parse((await changelab('validate', 'runs', '--json')).stdout)).toHaveLength(before);
  });

  it('refuses a malformed suite naming the expectation and field, and bad usage with exit 2', async () => {
    const bad = path.join(tempDir(), 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ name: 'bad', expectations: [{ type: 'expect_gsd_to_be_at_most', kwargs: { max_value: 'fine' } }] }));
    const out = await changelab('validate', bad);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('expectations[0] (expect_gsd_to_be_at_most): kwargs.max_value must be a finite number');
    const usage = await changelab('validate');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: changelab validate');
    expect((await changelab('validate', TABLE_SUITE, '--format', 'VERBOSE')).code).toBe(2);
  });
});
