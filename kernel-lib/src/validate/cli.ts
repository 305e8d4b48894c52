// `changelab validate …`: run a suite on a catalog table or a rows file, list and show runs (the
// main CLI dispatches here). Exit code 0 when the data meets the suite, 1 when it does not.
import * as fs from 'fs';
import { parseArgs } from 'util';
import { ChangelabError } from '../errors';
import { connect } from '../workspace';
import { getRun, listRuns } from './runs';
import type { ResultFormat, Row } from './types';
import { validate } from './index';

export const VALIDATE_USAGE = `usage: changelab validate SUITE.json [TABLE] [--rows FILE.json|FILE.jsonl] [--format BASIC|SUMMARY|COMPLETE]
                         [--skip-unknown] [--no-save] [--all-projects] [--project P] [--json]
       changelab validate runs [--suite NAME] [--failed] [--limit N] [--json]
       changelab validate show RUN_ID [--json]

  SUITE.json     a Great Expectations 1.x expectation suite (e.g. suites/table.json)
  TABLE          default image_metadata (only the project's live rows unless --all-projects);
                 --rows validates a JSON array (or JSON lines) of objects instead
  runs / show    recorded validation runs, newest first; one run with its failures`;

export class ValidateUsageError extends ChangelabError {}

const FORMATS: ResultFormat[] = ['BOOLEAN_ONLY', 'BASIC', 'SUMMARY', 'COMPLETE'];

function readRows(file: string): Row[] {
  const text = fs.readFileSync(file, 'utf8');
  try {
    if (/\.jsonl$|\.ndjson$/.test(file)) {
      return text
        .split('\n')
        .filter(line => line.trim() !== '')
        .map(line => JSON.parse(line) as Row);
    }
    const rows = JSON.parse(text) as unknown;
    if (!Array.isArray(rows)) {
      throw new Error('expected a JSON array of objects');
    }
    return rows as Row[];
  } catch (error) {
    throw new ValidateUsageError(`--rows ${file}: ${(error as Error).message}`, { file });
  }
}

/** Runs `changelab validate <args>`; returns the exit code. */
export async function validateCommand(args: string[], log: (line: string) => void = console.log): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      rows: { type: 'string' },
      format: { type: 'string' },
      'skip-unknown': { type: 'boolean' },
      'no-save': { type: 'boolean' },
      'all-projects': { type: 'boolean' },
      suite: { type: 'string' },
      failed: { type: 'boolean' },
      limit: { type: 'string' },
      project: { type: 'string' },
      json: { type: 'boolean' }
    },
    allowPositionals: true
  });
  const [first, ...rest] = positionals;
  if (!first) {
    throw new ValidateUsageError('name a suite file, or runs / show');
  }
  const json = !!values.json;
  const format = (values.format ?? 'SUMMARY').toUpperCase() as ResultFormat;
  if (!FORMATS.includes(format)) {
    throw new ValidateUsageError(`--format must be one of ${FORMATS.join(', ')}, not ${JSON.stringify(values.format)}`);
  }
  const workspace = await connect(values.project ? { overrides: { project: values.project } } : {});
  try {
    if (first === 'runs') {
      const limit = values.limit === undefined ? undefined : Number(values.limit);
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
        throw new ValidateUsageError(`--limit must be a positive integer, not ${JSON.stringify(values.limit)}`);
      }
      const list = await listRuns(workspace.db, { project: workspace.project, suite: values.suite, failedOnly: !!values.failed, limit });
      log(
        json
          ? JSON.stringify(list.runs, null, 2)
          : list.runs
              .map(r => `${r.id}\t${r.success ? 'pass' : 'FAIL'}\t${r.successful}/${r.evaluated}\t${r.suiteName}@${r.suiteVersion}\t${r.target}\t${r.rowCount} rows\t${r.createdAt.toISOString()}`)
              .join('\n') || 'no validation runs'
      );
      return 0;
    }
    if (first === 'show') {
      if (rest.length !== 1) {
        throw new ValidateUsageError('show takes one run id');
      }
      const run = await getRun(workspace.db, rest[0], workspace.project);
      log(json ? JSON.stringify({ ...run, result: run.result.toJSON() }, null, 2) : `run ${run.id} on ${run.target} (${run.rowCount} rows, ${run.snapshotAt.toISOString()})\n${run.result.toString()}`);
      return 0;
    }
    if (rest.length > 1) {
      throw new ValidateUsageError('validate takes a suite and at most one table');
    }
    if (values.rows && rest.length) {
      throw new ValidateUsageError('give a table or --rows, not both');
    }
    const target = values.rows ? { rows: readRows(values.rows), name: values.rows } : rest[0] ?? 'image_metadata';
    const result = await validate(target, first, {
      workspace,
      resultFormat: format,
      unknownExpectations: values['skip-unknown'] ? 'skip' : 'error',
      save: !values['no-save'],
      scoped: !values['all-projects'],
      origin: 'cli',
      display: false
    });
    log(json ? JSON.stringify(result.toJSON(), null, 2) : result.toString());
    return result.success ? 0 : 1;
  } finally {
    await workspace.close();
  }
}
