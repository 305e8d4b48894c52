// Training-run routes of the service, for the Training runs panel: runs of the project (newest
// first, with the last value of each metric) and one run with its parameters, metric curves
// (thinned to at most `points` per metric, first and last kept), artifacts and dataset version.
import { getRun, listRuns } from '../tracking/runs';
import type { RunState } from '../tracking/types';
import { BadRequestError, type IRequestContext, type Router } from './router';

const STATES: RunState[] = ['RUNNING', 'FINISHED', 'FAILED', 'KILLED'];

const RUN_SCHEMA = {
  type: 'object',
  required: ['id', 'experiment', 'name', 'status', 'startedAt'],
  properties: {
    id: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    project: { type: 'string' },
    experiment: { type: 'string' },
    name: { type: 'string' },
    status: { enum: STATES },
    startedAt: { type: 'string', format: 'date-time' },
    endedAt: { type: ['string', 'null'], format: 'date-time' },
    dataset: { type: ['object', 'null'] },
    latestMetrics: { type: 'object', additionalProperties: { type: 'number' } },
    links: { type: 'object' }
  }
};

/** The run store of the checked project. */
const source = (context: IRequestContext) => ({ db: context.workspace.db, objects: context.workspace.objects, project: context.project });

export function registerRunsRoutes(router: Router): Router {
  router.add({
    method: 'GET',
    path: '/api/runs',
    operationId: 'trainingRuns',
    summary: 'Training runs, newest first, with the last value of each metric and the dataset version',
    tags: ['runs'],
    query: {
      experiment: { type: 'string', description: 'Only runs of this experiment' },
      status: { type: 'string', description: `Only runs in this state: ${STATES.join(', ')}` },
      dataset: { type: 'string', description: 'Only runs trained on this dataset' },
      limit: { type: 'integer', description: 'At most this many (default 100)', minimum: 1, maximum: 10_000 }
    },
    responses: { '200': { description: 'Runs, newest first', schema: { type: 'object', properties: { runs: { type: 'array', items: RUN_SCHEMA } } } } },
    handler: async context => {
      const q = context.query;
      const status = q.status as string | undefined;
      if (status !== undefined && !STATES.includes(status as RunState)) {
        throw new BadRequestError(`query parameter "status" must be one of ${STATES.join(', ')}, not ${JSON.stringify(status)}`, { parameter: 'status' });
      }
      const list = await listRuns(source(context), {
        experiment: q.experiment as string | undefined,
        status: status as RunState | undefined,
        dataset: q.dataset === undefined ? undefined : { name: q.dataset as string },
        limit: q.limit as number | undefined
      });
      return { json: { runs: list.runs } };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/runs/{id}',
    operationId: 'trainingRun',
    summary: 'One training run: parameters, metric curves, artifacts, registered models and dataset version',
    tags: ['runs'],
    query: { points: { type: 'integer', description: 'At most this many points per metric curve (default 500)', minimum: 2, maximum: 100_000 } },
    responses: {
      '200': {
        description: 'The run; `metrics` maps each key to [step, value] pairs and `metricPoints` to the number logged',
        schema: {
          type: 'object',
          properties: {
            ...RUN_SCHEMA.properties,
            params: { type: 'object' },
            metrics: { type: 'object', additionalProperties: { type: 'array', items: { type: 'array', items: { type: 'number' } } } },
            metricPoints: { type: 'object', additionalProperties: { type: 'integer' } },
            artifacts: { type: 'array', items: { type: 'object' } },
            models: { type: 'array', items: { type: 'object' } },
            tags: { type: 'object' }
          }
        }
      },
      '404': { description: 'No such run in the project' }
    },
    handler: async context => {
      const id = context.params.id;
      if (!/^[0-9a-f]{32}$/.test(id)) {
        throw new BadRequestError(`run id must be 32 lower-case hex digits, not ${JSON.stringify(id)}`, { parameter: 'id', value: id });
      }
      const detail = await getRun(source(context), id);
      const points = (context.query.points as number | undefined) ?? 500;
      const keys = Object.keys(detail.run.metrics).sort();
      return {
        json: {
          ...detail.run,
          metrics: Object.fromEntries(keys.map(k => [k, detail.history(k, points)])),
          metricPoints: Object.fromEntries(keys.map(k => [k, detail.run.metrics[k].length]))
        }
      };
    }
  });
  return router;
}
