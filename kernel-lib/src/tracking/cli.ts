// `changelab runs …`: tracked training runs for terminals (the main CLI dispatches here).
import { parseArgs } from 'util';
import { ChangelabError } from '../errors';
import { connect } from '../workspace';
import { getModelVersion, getRun, listRuns } from './runs';
import type { RunState } from './types';

export const RUNS_USAGE = `usage: changelab runs [list] [--experiment E] [--status S] [--dataset NAME[@REV]] [--limit N] [--json]
       changelab runs show RUN_ID [--json]
       changelab runs model NAME VERSION|ALIAS [--json]

  list    training runs of the project, newest first, with the last value of each metric
  show    one run: params, metric histories (--json), artifacts (object keys), dataset, models
  model   a registered model version by number or alias (e.g. champion)`;

export class RunsUsageError extends ChangelabError {}

const STATES: RunState[] = ['RUNNING', 'FINISHED', 'FAILED', 'KILLED'];

/** Runs `changelab runs <args>`; returns the exit code. */
export async function runsCommand(args: string[], log: (line: string) => void = console.log): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      experiment: { type: 'string' },
      status: { type: 'string' },
      dataset: { type: 'string' },
      limit: { type: 'string' },
      project: { type: 'string' },
      json: { type: 'boolean' }
    },
    allowPositionals: true
  });
  const [sub = 'list', ...rest] = positionals;
  const json = !!values.json;
  const out = (value: unknown, text: () => string) => log(json ? JSON.stringify(value, null, 2) : text());
  const workspace = await connect(values.project ? { overrides: { project: values.project } } : {});
  try {
    switch (sub) {
      case 'list': {
        const status = values.status?.toUpperCase();
        if (status !== undefined && !STATES.includes(status as RunState)) {
          throw new RunsUsageError(`--status must be one of ${STATES.join(', ')}, not ${JSON.stringify(values.status)}`);
        }
        const limit = values.limit === undefined ? undefined : Number(values.limit);
        const [name, rev] = values.dataset?.split('@') ?? [];
        const list = await listRuns(workspace, {
          experiment: values.experiment,
          status: status as RunState | undefined,
          dataset: name ? { name, rev } : undefined,
          limit
        });
        out(list.runs, () => list.toDisplay().data['text/plain'] as string);
        return 0;
      }
      case 'show': {
        if (rest.length !== 1) {
          throw new RunsUsageError('runs show needs one run id');
        }
        const run = await getRun(workspace, rest[0]);
        out(run.run, () => run.toDisplay().data['text/plain'] as string);
        return 0;
      }
      case 'model': {
        if (rest.length !== 2) {
          throw new RunsUsageError('runs model needs a model name and a version number or alias');
        }
        const which = /^\d+$/.test(rest[1]) ? Number(rest[1]) : rest[1];
        const v = await getModelVersion(workspace, rest[0], which);
        out(v, () => `${v.name} version ${v.version}${v.aliases.length ? ` (${v.aliases.join(', ')})` : ''}: run ${v.run}, ${v.artifactPath}`);
        return 0;
      }
      default:
        throw new RunsUsageError(`unknown runs subcommand ${JSON.stringify(sub)}`);
    }
  } finally {
    await workspace.close();
  }
}
