// Dataset routes of the service, for the Dataset versions panel: the datasets of the workspace
// folder with their state, each one's versions (the git history of its .dvc file) with the runs
// that trained on each version, the diff between two versions, and a checkout that refuses while
// the workspace has uncommitted dataset changes unless the caller says `force` (after asking).
import * as fs from 'fs';
import type { IncomingMessage } from 'http';
import * as path from 'path';
import { runsForVersion } from '../dataset/lineage';
import { checkName, DatasetRepository } from '../dataset/repository';
import { Git } from '../dataset/git';
import type { IDatasetStatus } from '../dataset/views';
import { NotFoundError } from '../errors';
import type { Workspace } from '../workspace';
import { BadRequestError, type IRequestContext, type Router } from './router';

export interface IDatasetRoutesOptions {
  /**
   * The workspace folder holding `datasets/` (a git work tree). Default: the folder of the
   * changelab.config.json the service's workspace was configured from, else the service's cwd.
   */
  root?: string;
}

/** Longest request body a route reads. */
const MAX_BODY = 64 * 1024;
/** At most this many file names per kind in a diff answer (the counts are always whole). */
const MAX_DIFF_FILES = 1000;
const REV = /^(?!-)[A-Za-z0-9._/@^~{}-]{1,250}$/;

/** The folder datasets live in for this workspace. */
export function datasetRoot(workspace: Workspace, options: IDatasetRoutesOptions = {}): string {
  if (options.root) {
    return path.resolve(options.root);
  }
  const file = workspace.config.sources.find(s => path.isAbsolute(s) && fs.existsSync(s));
  return file ? path.dirname(file) : process.cwd();
}

function checkRev(rev: unknown, what: string): string {
  if (typeof rev !== 'string' || !REV.test(rev)) {
    throw new BadRequestError(`${what} must be a git commit, branch or tag (1 to 250 characters, not starting with "-"), not ${JSON.stringify(rev)}`, {
      parameter: what,
      value: rev
    });
  }
  return rev;
}

function datasetName(name: string): string {
  try {
    return checkName(name);
  } catch (error) {
    throw new BadRequestError((error as Error).message, { parameter: 'name', value: name });
  }
}

/** Reads a JSON object body (at most MAX_BODY bytes, Content-Type application/json). */
export async function readJsonBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    throw new BadRequestError(`the request body must be JSON (Content-Type: application/json), not ${JSON.stringify(type || 'none')}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) {
      throw new BadRequestError(`the request body is larger than ${MAX_BODY} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (cause) {
    throw new BadRequestError(`the request body is not valid JSON: ${(cause as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** Why a status line counts as an uncommitted change a checkout could overwrite. */
export function uncommittedChange(s: IDatasetStatus): string | null {
  if (s.workspace === 'not committed' || s.rev === null) {
    return `${s.name}: datasets/${s.name}.dvc is not committed`;
  }
  if (s.workspace === 'modified') {
    return `${s.name}: ${s.added.length} added, ${s.deleted.length} deleted, ${s.modified.length} modified file(s) not committed`;
  }
  return null;
}

export function registerDatasetRoutes(router: Router, options: IDatasetRoutesOptions = {}): Router {
  /**
   * The repository, or null when the folder holds no dataset workspace yet (no .dvc folder or not a
   * git work tree): the service never initialises one, so a GET writes nothing.
   */
  const repository = async (context: IRequestContext): Promise<DatasetRepository | null> => {
    const root = datasetRoot(context.workspace, options);
    if (!fs.existsSync(path.join(root, '.dvc')) || !(await new Git(root).isRepo())) {
      return null;
    }
    return DatasetRepository.open({ root });
  };

  router.add({
    method: 'GET',
    path: '/api/datasets',
    operationId: 'datasets',
    summary: 'The datasets of the workspace folder, each with its state against its .dvc file and its number of versions',
    tags: ['datasets'],
    responses: {
      '200': {
        description: 'Datasets, by name',
        schema: {
          type: 'object',
          properties: {
            root: { type: 'string' },
            clean: { type: 'boolean', description: 'No dataset has uncommitted changes' },
            datasets: { type: 'array', items: { type: 'object' } }
          }
        }
      }
    },
    handler: async context => {
      const repo = await repository(context);
      if (!repo) {
        return { json: { root: datasetRoot(context.workspace, options), clean: true, datasets: [] } };
      }
      const [status, log] = await Promise.all([repo.status(), repo.log()]);
      const datasets = status.datasets.map(s => {
        const versions = log.versions.filter(v => v.name === s.name);
        return {
          name: s.name,
          md5: s.md5,
          workspace: s.workspace,
          rev: s.rev,
          atHead: s.atHead,
          changes: { added: s.added.length, deleted: s.deleted.length, modified: s.modified.length },
          missingInCache: s.missingInCache,
          uncommitted: uncommittedChange(s),
          versions: versions.length,
          latest: versions[0] ?? null
        };
      });
      return { json: { root: repo.root, clean: datasets.every(d => d.uncommitted === null), datasets } };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/datasets/{name}/versions',
    operationId: 'datasetVersions',
    summary: "A dataset's versions (git history of its .dvc file: message, author, date, size, file count), newest first, with the runs that trained on each",
    tags: ['datasets'],
    responses: {
      '200': { description: 'Versions, newest first', schema: { type: 'object', properties: { name: { type: 'string' }, versions: { type: 'array', items: { type: 'object' } } } } },
      '404': { description: 'No such dataset' }
    },
    handler: async context => {
      const name = datasetName(context.params.name);
      const repo = await repository(context);
      const versions = repo ? (await repo.log(name)).versions : [];
      if (versions.length === 0 && !(repo && fs.existsSync(path.join(repo.datasetsDir, `${name}.dvc`)))) {
        throw new NotFoundError(`no dataset ${name} in ${datasetRoot(context.workspace, options)}`, { name });
      }
      const uses = await Promise.all(versions.map(v => runsForVersion(context.workspace.db, name, v.md5, context.project)));
      const runIds = [...new Set(uses.flat().map(u => u.runId))];
      const runs = runIds.length
        ? await context.workspace.db.query<{ id: string; name: string; experiment: string; status: string; started_at: Date }>(
            `SELECT id, name, experiment, status, started_at FROM training_runs WHERE id = ANY($1::text[]) AND project = $2`,
            [runIds, context.project]
          )
        : [];
      const byId = new Map(runs.map(r => [r.id, r]));
      return {
        json: {
          name,
          versions: versions.map((v, i) => ({
            ...v,
            // Several versions may share one md5 (a revert); lineage is by the version's content.
            runs: uses[i]
              .filter(u => u.rev === v.rev || !versions.some(o => o.rev === u.rev))
              .map(u => {
                const r = byId.get(u.runId);
                return { runId: u.runId, rev: u.rev, recordedAt: u.recordedAt, name: r?.name ?? null, experiment: r?.experiment ?? null, status: r?.status ?? null };
              })
          }))
        }
      };
    }
  });

  router.add({
    method: 'GET',
    path: '/api/datasets/{name}/diff',
    operationId: 'datasetDiff',
    summary: 'Files added, deleted and modified in a dataset between two versions (or a version and the workspace)',
    tags: ['datasets'],
    query: {
      from: { type: 'string', description: 'The older version: a git commit, branch or tag', required: true },
      to: { type: 'string', description: 'The newer version; the workspace when absent' }
    },
    responses: {
      '200': {
        description: 'The diff: counts and (at most 1000 per kind) file names',
        schema: {
          type: 'object',
          properties: {
            from: { type: 'string' },
            to: { type: 'string' },
            summary: { type: 'object', properties: { added: { type: 'integer' }, deleted: { type: 'integer' }, modified: { type: 'integer' } } },
            added: { type: 'array', items: { type: 'string' } },
            deleted: { type: 'array', items: { type: 'string' } },
            modified: { type: 'array', items: { type: 'string' } },
            truncated: { type: 'boolean' }
          }
        }
      },
      '404': { description: 'No such dataset or version' }
    },
    handler: async context => {
      const name = datasetName(context.params.name);
      const from = checkRev(context.query.from, 'from');
      const to = context.query.to === undefined ? undefined : checkRev(context.query.to, 'to');
      const repo = await repository(context);
      if (!repo) {
        throw new NotFoundError(`no dataset ${name}: ${datasetRoot(context.workspace, options)} is not a git work tree`, { name });
      }
      const diff = await repo.diff(from, to, { name });
      const d = diff.datasets.find(x => x.name === name) ?? { added: [], deleted: [], modified: [] };
      return {
        json: {
          name,
          from: diff.from,
          to: diff.to,
          summary: { added: d.added.length, deleted: d.deleted.length, modified: d.modified.length },
          added: d.added.slice(0, MAX_DIFF_FILES),
          deleted: d.deleted.slice(0, MAX_DIFF_FILES),
          modified: d.modified.slice(0, MAX_DIFF_FILES),
          truncated: Math.max(d.added.length, d.deleted.length, d.modified.length) > MAX_DIFF_FILES
        }
      };
    }
  });

  router.add({
    method: 'POST',
    path: '/api/datasets/checkout',
    operationId: 'datasetCheckout',
    summary:
      'Checks datasets out at a version (body {rev, name?, force?}); refuses with 409 while the workspace has uncommitted dataset changes unless force is true',
    tags: ['datasets'],
    responses: {
      '200': { description: 'What was written, deleted and kept per dataset', schema: { type: 'object', properties: { rev: { type: 'string' }, datasets: { type: 'array' } } } },
      '409': {
        description: 'Uncommitted changes would be overwritten; ask the user, then send force: true',
        schema: { type: 'object', properties: { error: { type: 'object' }, uncommitted: { type: 'array', items: { type: 'string' } } } }
      },
      '404': { description: 'No such version or dataset' }
    },
    handler: async context => {
      const body = await readJsonBody(context.request);
      for (const key of Object.keys(body)) {
        if (!['rev', 'name', 'force'].includes(key)) {
          throw new BadRequestError(`unknown field "${key}" in the body; checkout takes rev, name, force`, { field: key });
        }
      }
      const rev = checkRev(body.rev, 'rev');
      const name = body.name === undefined ? undefined : datasetName(String(body.name));
      if (body.force !== undefined && typeof body.force !== 'boolean') {
        throw new BadRequestError(`force must be true or false, not ${JSON.stringify(body.force)}`, { field: 'force' });
      }
      const force = body.force === true;
      const repo = await repository(context);
      if (!repo) {
        throw new NotFoundError(`${datasetRoot(context.workspace, options)} is not a git work tree: there is nothing to check out`, { rev });
      }
      if (!force) {
        const status = await repo.status(name ? { name } : {});
        const uncommitted = status.datasets.map(uncommittedChange).filter((s): s is string => s !== null);
        if (uncommitted.length > 0) {
          return {
            status: 409,
            json: {
              error: { type: 'UncommittedChanges', message: `the workspace has uncommitted dataset changes (${uncommitted.join('; ')}); checking out ${rev} would overwrite them` },
              uncommitted
            }
          };
        }
      }
      const datasets = await repo.checkout(rev, { name, force });
      return { json: { rev, resolved: await repo.git.resolve(rev), datasets } };
    }
  });
  return router;
}
