// Every notebook in notebooks/ runs headless with the tslab kernel (as `npm run demo` does) in a
// fresh embedded workspace, and finishes with no error output. The quickstart's display path is
// checked end to end: the kernel library's bundle reaches the notebook with our MIME type and the
// HTML / plain-text fallbacks that shared notebooks show without the extension.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { afterAll, describe, expect, it } from 'vitest';
import { stopEmbeddedDatabase } from '../../kernel-lib/src/db/embedded';
import { tempDir } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const JUPYTER = path.join(ROOT, '.venv', 'bin', 'jupyter');
const OUT = path.join(ROOT, 'test-output', 'notebooks-test');
const home = tempDir('changelab-notebooks-');

interface ICell {
  cell_type: string;
  metadata: { execution?: Record<string, string> };
  outputs?: { output_type: string; data?: Record<string, unknown>; ename?: string; evalue?: string }[];
}

async function execute(notebook: string): Promise<ICell[]> {
  if (!fs.existsSync(JUPYTER)) {
    throw new Error(`${JUPYTER} is missing: run "bash scripts/setup.sh" (npm test does) first`);
  }
  fs.mkdirSync(OUT, { recursive: true });
  await promisify(execFile)(
    JUPYTER,
    [
      'nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.kernel_name=tslab',
      '--ExecutePreprocessor.timeout=600', '--output-dir', OUT, '--output', path.basename(notebook), notebook
    ],
    { cwd: ROOT, env: { ...process.env, CHANGELAB_HOME: home }, maxBuffer: 16 << 20 }
  );
  return JSON.parse(fs.readFileSync(path.join(OUT, path.basename(notebook)), 'utf8')).cells;
}

const notebooks = fs.readdirSync(path.join(ROOT, 'notebooks')).filter(f => f.endsWith('.ipynb')).sort();

afterAll(async () => {
  await stopEmbeddedDatabase(home);
});

describe.each(notebooks)('notebooks/%s', name => {
  it('runs every cell headless with the tslab kernel, with no errors', { timeout: 900_000 }, async () => {
    const cells = (await execute(path.join('notebooks', name))).filter(c => c.cell_type === 'code');
    const errors = cells.flatMap(c => (c.outputs ?? []).filter(o => o.output_type === 'error'));
    expect(errors.map(e => `${e.ename}: ${e.evalue}`)).toEqual([]);
    // tslab sends no execute_input, so a cell that ran shows in nbclient's timing metadata.
    expect(cells.filter(c => !c.metadata.execution?.['iopub.status.idle'])).toEqual([]);
    if (name === 'quickstart.ipynb') {
      const status = cells
        .flatMap(c => c.outputs ?? [])
        .find(o => o.data?.['application/vnd.changelab.status+json']);
      expect(status, 'the status card reached the notebook as display_data').toBeDefined();
      const card = status!.data!['application/vnd.changelab.status+json'] as { version: number; title: string };
      expect(card.version).toBe(1);
      expect(card.title).toBe('changelab workspace');
      // nbformat may store text as a list of lines
      const text = (mime: string) => [status!.data![mime]].flat().join('');
      expect(text('text/html')).toMatch(/PostGIS 3\.\d/);
      expect(text('text/plain')).toMatch(/database: embedded/);
    }
  });
});
