#!/usr/bin/env node
// The `changelab` command line: the same library calls as the notebooks, for terminals and jobs.
import { parseArgs } from 'util';
import type { BBox } from './catalog/search';
import { connect, type Workspace } from './workspace';
import { loadConfig } from './config';
import { ensureEmbeddedDatabase, stopEmbeddedDatabase } from './db/embedded';
import { ChangelabError } from './errors';

const USAGE = `usage: changelab <command> [options]

commands:
  status          show the workspace: database, object storage, job queue, settings
  migrate         apply pending database migrations
  db start|stop   start or stop the embedded database owner (embedded mode only)

  ingest <prefix|path> [--project P] [--concurrency N] [--no-deletes] [--json]
                  index images under a key prefix of the object store ('' for all), an
                  s3://bucket/prefix, or a local file or folder (/abs, ./rel, file://...)
  search [--bbox minx,miny,maxx,maxy] [--from D] [--to D] [--min-gsd M] [--max-gsd M]
         [--crs EPSG] [--project P] [--limit N] [--cursor C] [--json]
                  find images (bbox in EPSG:4326 degrees, dates ISO 8601, GSD in metres;
                  write --bbox=-71.1,42.3,... when the bbox starts with a minus sign)
  pairs [--min-overlap F] [--min-days D] [--max-gsd-ratio R] [--project P] [--limit N] [--json]
                  candidate before/after pairs of the same place
  watch [--bucket B] [--prefix P] [--path DIR] [--project P] [--interval SECONDS]
        [--events-redis redis://H:P [--events-list L] [--events-arn A]]
                  index uploads as they land (bucket notifications or filesystem events, plus a
                  reconcile scan at start and every --interval seconds, default 300); Ctrl-C stops.
                  --events-redis reads bucket events from the Redis list of MinIO's Redis
                  notification target (default list changelab:minio-events, ARN
                  arn:minio:sqs::CHANGELAB:redis) instead of ListenBucketNotification
  quarantine [--project P] [--all] [--json]
                  files that could not be indexed, with the reason
  dataset list|build|commit|push|pull|checkout|log|diff|status|remote|lineage ...
                  dataset versions in DVC's formats (MinIO/S3 or folder remote);
                  \`changelab dataset help\` lists the options
  validate SUITE.json [TABLE] [--rows FILE] [--format F] [--json] | validate runs | validate show ID
                  run a Great Expectations suite on image_metadata (or TABLE, or rows); exit 1 when
                  the data fails it; \`changelab validate\` alone shows the options
  train <dataset folder>|--synthetic [--model M] [--epochs N] [--batch-size N] [--lr F] [--gpu]
        [--out DIR] [--resume CKPT] [--register NAME] [--json] ...
                  train a change-detection model (FC-Siam-diff by default) on ONNX Runtime, tracked
                  as a run; \`changelab train --help\` lists every option
  runs [list|show ID|model NAME VERSION|ALIAS] [--experiment E] [--status S] [--json]
                  tracked training runs: params, metrics, artifacts, dataset, model versions
  infer <model.onnx> <before> <after> [--truth MASK] [--tile 256] [--overlap 64] [--margin M]
        [--batch 4] [--threads N] [--threshold 0.5] [--probability uint8|float32]
        [--resampling bilinear|nearest] [--simplify PX] [--min-area M2] [--no-polygons]
        [--output PREFIX] [--run-id ID] [--project P] [--json]
                  change maps of a pair: probability + mask COGs (and a confusion COG with
                  --truth) beside <before>, polygons as GeoJSON + GeoPackage and in PostGIS;
                  images are object keys, or paths (/abs, ./rel); an interrupted run resumes
  serve [--port N] [--host 127.0.0.1]
                  the HTTP service for the JupyterLab panels and notebook maps (loopback only;
                  JupyterLab starts it behind its authentication at <base_url>/changelab/);
                  its OpenAPI document is at /openapi.json
`;

const number = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) {
    return undefined;
  }
  const n = Number(value);
  if (!Number.isFinite(n)) {
    throw new UsageError(`--${name} must be a number, not ${JSON.stringify(value)}`);
  }
  return n;
};

class UsageError extends Error {}

function parseBBox(value: string | undefined): BBox | undefined {
  if (value === undefined) {
    return undefined;
  }
  const parts = value.split(',').map(Number);
  if (parts.length !== 4 || parts.some(p => !Number.isFinite(p))) {
    throw new UsageError(`--bbox must be minx,miny,maxx,maxy in degrees, not ${JSON.stringify(value)}`);
  }
  return parts as BBox;
}

async function withWorkspace<T>(work: (w: Workspace) => Promise<T>): Promise<T> {
  const workspace = await connect();
  try {
    return await work(workspace);
  } finally {
    await workspace.close();
  }
}

const print = (json: boolean, value: unknown, text: () => string) =>
  console.log(json ? JSON.stringify(value, null, 2) : text());

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const sub = rest[0];
  const options = (spec: Record<string, { type: 'string' | 'boolean' }>) => {
    const parsed = parseArgs({
      args: rest,
      options: { ...spec, project: { type: 'string' }, json: { type: 'boolean' } },
      allowPositionals: true
    });
    return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
  };
  switch (command) {
    case 'status':
    case 'migrate': {
      const workspace = await connect(); // connecting applies migrations
      try {
        const status = await workspace.status();
        console.log(JSON.stringify(status, null, 2));
      } finally {
        await workspace.close();
      }
      return 0;
    }
    case 'db': {
      const config = loadConfig();
      if (config.databaseUrl) {
        console.error('a server database is configured (databaseUrl); nothing embedded to start or stop');
        return 2;
      }
      if (sub === 'start') {
        console.log(await ensureEmbeddedDatabase(config.homeDir));
        return 0;
      }
      if (sub === 'stop') {
        console.log((await stopEmbeddedDatabase(config.homeDir)) ? 'stopped' : 'not running');
        return 0;
      }
      console.error(USAGE);
      return 2;
    }
    case 'ingest': {
      const { values, positionals } = options({ concurrency: { type: 'string' }, 'no-deletes': { type: 'boolean' } });
      if (positionals.length > 1) {
        throw new UsageError('ingest takes one prefix or path');
      }
      const summary = await withWorkspace(w =>
        w.catalog.ingest(positionals[0] ?? '', {
          project: values.project as string | undefined,
          concurrency: number('concurrency', values.concurrency as string | undefined),
          deletes: !values['no-deletes'],
          progress: values.json ? false : 'auto'
        })
      );
      print(!!values.json, summary, () =>
        [summary.toString(), ...summary.problems.map(p => `  quarantined ${p.key}: ${p.reason}`), ...summary.errors.map(e => `  failed ${e.key}: ${e.message}`)].join('\n')
      );
      return summary.failed > 0 ? 1 : 0;
    }
    case 'search': {
      const { values } = options({
        bbox: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        'min-gsd': { type: 'string' },
        'max-gsd': { type: 'string' },
        crs: { type: 'string' },
        limit: { type: 'string' },
        cursor: { type: 'string' }
      });
      const v = values as Record<string, string | undefined>;
      const page = await withWorkspace(w =>
        w.catalog.search({
          bbox: parseBBox(v.bbox),
          from: v.from,
          to: v.to,
          minGsd: number('min-gsd', v['min-gsd']),
          maxGsd: number('max-gsd', v['max-gsd']),
          crs: number('crs', v.crs),
          project: v.project,
          limit: number('limit', v.limit),
          cursor: v.cursor
        })
      );
      print(!!values.json, { images: page.images, nextCursor: page.nextCursor }, () => {
        const text = page.toDisplay().data['text/plain'] as string;
        return page.nextCursor ? `${text}\nnext page: --cursor ${page.nextCursor}` : text;
      });
      return 0;
    }
    case 'pairs': {
      const { values } = options({
        'min-overlap': { type: 'string' },
        'min-days': { type: 'string' },
        'max-gsd-ratio': { type: 'string' },
        limit: { type: 'string' }
      });
      const v = values as Record<string, string | undefined>;
      const list = await withWorkspace(w =>
        w.catalog.pairs.discover({
          minOverlap: number('min-overlap', v['min-overlap']),
          minDaysApart: number('min-days', v['min-days']),
          maxGsdRatio: number('max-gsd-ratio', v['max-gsd-ratio']),
          project: v.project,
          limit: number('limit', v.limit)
        })
      );
      print(
        !!values.json,
        list.pairs.map(p => ({ before: p.before, after: p.after, overlap: p.overlap, daysApart: p.daysApart, gsdRatio: p.gsdRatio })),
        () => list.toDisplay().data['text/plain'] as string
      );
      return 0;
    }
    case 'infer': {
      const { values, positionals } = options({
        truth: { type: 'string' },
        tile: { type: 'string' },
        overlap: { type: 'string' },
        margin: { type: 'string' },
        batch: { type: 'string' },
        threads: { type: 'string' },
        threshold: { type: 'string' },
        probability: { type: 'string' },
        resampling: { type: 'string' },
        simplify: { type: 'string' },
        'min-area': { type: 'string' },
        'no-polygons': { type: 'boolean' },
        output: { type: 'string' },
        'run-id': { type: 'string' }
      });
      const v = values as Record<string, string | undefined>;
      if (positionals.length !== 3) {
        throw new UsageError('infer needs <model.onnx> <before> <after>');
      }
      const [modelPath, before, after] = positionals;
      if (v.probability !== undefined && v.probability !== 'uint8' && v.probability !== 'float32') {
        throw new UsageError(`--probability must be uint8 or float32, not ${JSON.stringify(v.probability)}`);
      }
      if (v.resampling !== undefined && v.resampling !== 'bilinear' && v.resampling !== 'nearest') {
        throw new UsageError(`--resampling must be bilinear or nearest, not ${JSON.stringify(v.resampling)}`);
      }
      const { infer } = await import('./infer');
      const result = await withWorkspace(w =>
        infer({ onnx: modelPath }, { before, after }, {
          workspace: w,
          groundTruth: v.truth,
          tile: number('tile', v.tile),
          overlap: number('overlap', v.overlap),
          margin: number('margin', v.margin),
          batch: number('batch', v.batch),
          threads: number('threads', v.threads),
          threshold: number('threshold', v.threshold),
          probability: v.probability as 'uint8' | 'float32' | undefined,
          resampling: v.resampling as 'bilinear' | 'nearest' | undefined,
          polygons: values['no-polygons'] ? false : { simplify: number('simplify', v.simplify), minArea: number('min-area', v['min-area']) },
          outputPrefix: v.output,
          runId: v['run-id'],
          project: v.project
        })
      );
      const { toDisplay, ...plain } = result;
      print(!!values.json, plain, () => toDisplay().data['text/plain'] as string);
      return 0;
    }
    case 'quarantine': {
      const { values } = options({ all: { type: 'boolean' }, limit: { type: 'string' } });
      const list = await withWorkspace(w =>
        w.catalog.quarantine({
          project: values.project as string | undefined,
          includeResolved: !!values.all,
          limit: number('limit', values.limit as string | undefined)
        })
      );
      print(!!values.json, list.entries, () => list.toDisplay().data['text/plain'] as string);
      return 0;
    }
    case 'watch': {
      const { values } = options({
        bucket: { type: 'string' },
        prefix: { type: 'string' },
        path: { type: 'string' },
        interval: { type: 'string' },
        'events-redis': { type: 'string' },
        'events-list': { type: 'string' },
        'events-arn': { type: 'string' }
      });
      const v = values as Record<string, string | undefined>;
      const workspace = await connect();
      const interval = number('interval', v.interval);
      const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
      const watcher = workspace.catalog.watch({
        bucket: v.bucket,
        prefix: v.prefix,
        path: v.path,
        project: v.project,
        reconcileIntervalMs: interval === undefined ? undefined : interval * 1000,
        events: v['events-redis']
          ? { redis: v['events-redis'], list: v['events-list'] ?? 'changelab:minio-events', arn: v['events-arn'] ?? 'arn:minio:sqs::CHANGELAB:redis' }
          : 'listen',
        onEvent: e => {
          if (e.outcome !== 'unchanged' && e.outcome !== 'still-quarantined') {
            log(`${(e.outcome === 'vanished' ? 'deleted' : e.outcome).padEnd(11)} ${e.key}${e.id ? ` (image ${e.id})` : ''}${e.error ? `: ${e.error.message}` : ''} [${e.via}]`);
          }
        },
        onError: e => log(`error: ${e.message}`)
      });
      log(`watching ${v.bucket ? `s3://${v.bucket}/${v.prefix ?? ''}` : v.path ?? `${workspace.objects.location}/${v.prefix ?? ''}`}; Ctrl-C stops`);
      watcher.ready.then(
        s => log(`reconciled: ${s.toString()}`),
        () => undefined
      );
      await new Promise<void>(resolve => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      log('stopping');
      await watcher.stop();
      await workspace.close();
      return 0;
    }
    case 'serve': {
      const { values } = options({ port: { type: 'string' }, host: { type: 'string' } });
      const { serve } = await import('./serve');
      const service = await serve({ port: number('port', values.port as string | undefined), host: values.host as string | undefined });
      console.log(`changelab service on ${service.url} (OpenAPI: ${service.url}/openapi.json); Ctrl-C stops`);
      await new Promise<void>(resolve => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await service.close();
      return 0;
    }
    case 'dataset':
      return (await import('./dataset/cli')).runDatasetCommand(rest);
    case 'runs': {
      const { runsCommand, RunsUsageError, RUNS_USAGE } = await import('./tracking/cli');
      try {
        return await runsCommand(rest);
      } catch (error) {
        if (error instanceof RunsUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
          console.error(`error: ${(error as Error).message}\n\n${RUNS_USAGE}`);
          return 2;
        }
        throw error;
      }
    }
    case 'train': {
      const { trainCommand, TrainUsageError, TRAIN_USAGE } = await import('./train/cli');
      if (rest[0] === '--help' || rest[0] === 'help') {
        console.log(TRAIN_USAGE);
        return 0;
      }
      try {
        return await trainCommand(rest);
      } catch (error) {
        if (error instanceof TrainUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
          console.error(`error: ${(error as Error).message}\n\n${TRAIN_USAGE}`);
          return 2;
        }
        throw error;
      }
    }
    case 'validate': {
      const { validateCommand, ValidateUsageError, VALIDATE_USAGE } = await import('./validate/cli');
      try {
        return await validateCommand(rest);
      } catch (error) {
        if (error instanceof ValidateUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
          console.error(`error: ${(error as Error).message}\n\n${VALIDATE_USAGE}`);
          return 2;
        }
        throw error;
      }
    }
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command ${command}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  code => process.exit(code),
  error => {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`error: ${(error as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    console.error(error instanceof ChangelabError ? `error: ${error.message}` : error);
    process.exit(1);
  }
);
