// `changelab dataset …`: the dataset calls for terminals and jobs (the main CLI dispatches here).
import { parseArgs } from 'util';
import { ChangelabError } from '../errors';
import { connect } from '../workspace';
import { build } from './build';
import * as lineage from './lineage';
import { DatasetRepository } from './repository';
import { formatBytes } from './views';

export const DATASET_USAGE = `usage: changelab dataset <subcommand> [--root DIR] [options]

  list [--json]                      datasets in the workspace (datasets/*.dvc)
  build NAME --synthetic N [--size PX] [--chip PX] [--overlap PX] [--seed S] [--block PX]
                                     chips + manifest.json from N seeded synthetic pairs
  build NAME --pairs [--limit N] [--min-overlap F] [--chip PX] ...
                                     chips from the catalog's before/after pairs
  commit NAME -m MESSAGE [--tag T]   hash, cache and git-commit datasets/NAME as a version
  push [--remote R] [--name N] [--jobs J] [--all-commits]
  pull [--remote R] [--name N] [--jobs J] [--force]
  checkout [REV] [--name N] [--force] [--remote R]
                                     restore datasets to a git rev or tag (default: the .dvc files)
  log [NAME] [--json]                versions: rev, tags, date, author, files, size, message
  diff REV_A [REV_B] [--name N] [--json]
                                     files added / deleted / modified (REV_B default: workspace)
  status [--cloud] [--remote R] [--json]
                                     workspace and cache (--cloud: also the remote) against .dvc files
  remote add NAME URL [--endpoint URL] [--access-key-id K] [--secret-access-key S] [--no-default]
                                     s3://bucket/prefix (MinIO: --endpoint) or a folder; keys go to
                                     .dvc/config.local, which git ignores
  lineage --run ID | --image ID [--json]
                                     images behind a run's datasets, or runs that used an image

--root defaults to the folder of changelab.config.json (or the current folder).`;

class DatasetUsageError extends ChangelabError {}

const num = (name: string, v: unknown): number | undefined => {
  if (v === undefined) {
    return undefined;
  }
  const n = Number(v);
  if (!Number.isFinite(n)) {
    throw new DatasetUsageError(`--${name} must be a number, not ${JSON.stringify(v)}`);
  }
  return n;
};

export async function runDatasetCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help') {
    console.log(DATASET_USAGE);
    return sub === undefined ? 2 : 0;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        root: { type: 'string' },
        json: { type: 'boolean' },
        message: { type: 'string', short: 'm' },
        tag: { type: 'string' },
        remote: { type: 'string' },
        name: { type: 'string' },
        jobs: { type: 'string' },
        'all-commits': { type: 'boolean' },
        force: { type: 'boolean' },
        cloud: { type: 'boolean' },
        endpoint: { type: 'string' },
        'access-key-id': { type: 'string' },
        'secret-access-key': { type: 'string' },
        'no-default': { type: 'boolean' },
        synthetic: { type: 'string' },
        pairs: { type: 'boolean' },
        limit: { type: 'string' },
        'min-overlap': { type: 'string' },
        size: { type: 'string' },
        chip: { type: 'string' },
        overlap: { type: 'string' },
        seed: { type: 'string' },
        block: { type: 'string' },
        run: { type: 'string' },
        image: { type: 'string' },
        project: { type: 'string' }
      }
    });
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n\n${DATASET_USAGE}`);
    return 2;
  }
  const v = parsed.values;
  const pos = parsed.positionals;
  const json = !!v.json;
  const out = (value: unknown, text: () => string) => console.log(json ? JSON.stringify(value, null, 2) : text());
  const plain = (x: { toDisplay(): { data: Record<string, unknown> } }) => x.toDisplay().data['text/plain'] as string;
  const progress = json
    ? undefined
    : (done: number, total: number) => {
        if (process.stderr.isTTY) {
          process.stderr.write(`\r${done}/${total}`);
        }
      };
  try {
    const repo = await DatasetRepository.open({ root: v.root });
    const jobs = num('jobs', v.jobs);
    switch (sub) {
      case 'list': {
        const names = repo.list();
        out(names, () => (names.length ? names.join('\n') : 'no datasets (datasets/*.dvc)'));
        return 0;
      }
      case 'build': {
        const name = pos[0];
        if (!name || (!v.synthetic && !v.pairs)) {
          throw new DatasetUsageError('build needs a NAME and --synthetic N or --pairs');
        }
        const common = {
          root: repo.root,
          chip: num('chip', v.chip),
          overlap: num('overlap', v.overlap),
          seed: v.seed,
          block: num('block', v.block)
        };
        const manifest = v.pairs
          ? await (async () => {
              const workspace = await connect();
              try {
                const list = await workspace.catalog.pairs.discover({
                  minOverlap: num('min-overlap', v['min-overlap']),
                  limit: num('limit', v.limit),
                  project: v.project
                });
                return await build(name, { ...common, pairs: list.pairs, objects: workspace.objects });
              } finally {
                await workspace.close();
              }
            })()
          : await build(name, { ...common, synthetic: { count: num('synthetic', v.synthetic)!, size: num('size', v.size) } });
        const counts = { train: 0, val: 0, test: 0 };
        manifest.chips.forEach(c => counts[c.split]++);
        out({ name, chips: manifest.chips.length, splits: counts }, () => `built ${name}: ${manifest.chips.length} chips (train ${counts.train}, val ${counts.val}, test ${counts.test}) in ${repo.folder(name)}`);
        return 0;
      }
      case 'commit': {
        if (!pos[0] || !v.message) {
          throw new DatasetUsageError('commit needs a NAME and -m MESSAGE');
        }
        const version = await repo.commit(pos[0], v.message, { tag: v.tag });
        out(version, () =>
          version.committed
            ? `${version.name} ${version.shortRev}: ${version.nfiles} files, ${formatBytes(version.size)} (${version.md5})`
            : `${version.name} is unchanged since ${version.shortRev}; nothing committed`
        );
        return 0;
      }
      case 'push':
      case 'pull': {
        const options = { remote: v.remote, name: v.name, jobs, allCommits: !!v['all-commits'], force: !!v.force, onProgress: progress };
        const summary = sub === 'push' ? await repo.push(options) : await repo.pull(options);
        if (progress && process.stderr.isTTY) {
          process.stderr.write('\n');
        }
        out(summary.toJSON(), () => summary.toString());
        return 0;
      }
      case 'checkout': {
        const results = await repo.checkout(pos[0], { name: v.name, force: !!v.force, remote: v.remote, jobs });
        out(results, () => results.map(r => `${r.name}: ${r.md5}, ${r.written} written, ${r.deleted} deleted, ${r.unchanged} unchanged`).join('\n'));
        return 0;
      }
      case 'log': {
        const list = await repo.log(pos[0]);
        out(list.versions, () => plain(list));
        return 0;
      }
      case 'diff': {
        if (!pos[0]) {
          throw new DatasetUsageError('diff needs REV_A (and optionally REV_B)');
        }
        const d = await repo.diff(pos[0], pos[1], { name: v.name, remote: v.remote });
        out(d.toJSON(), () => plain(d));
        return 0;
      }
      case 'status': {
        const s = await repo.status({ remote: v.remote ?? (v.cloud ? true : undefined), name: v.name, jobs });
        out(s.datasets, () => plain(s));
        return s.clean ? 0 : 1;
      }
      case 'remote': {
        if (pos[0] !== 'add' || !pos[1] || !pos[2]) {
          throw new DatasetUsageError('usage: remote add NAME URL [--endpoint URL] [--access-key-id K] [--secret-access-key S]');
        }
        repo.setRemote(pos[1], pos[2], {
          endpoint: v.endpoint,
          accessKeyId: v['access-key-id'],
          secretAccessKey: v['secret-access-key'],
          default: !v['no-default']
        });
        out({ remote: pos[1], url: pos[2] }, () => `remote ${pos[1]} -> ${pos[2]}${v['no-default'] ? '' : ' (default)'}`);
        return 0;
      }
      case 'lineage': {
        if (!v.run === !v.image) {
          throw new DatasetUsageError('lineage needs exactly one of --run ID or --image ID');
        }
        const workspace = await connect();
        try {
          if (v.run) {
            const ids = await lineage.imagesForRun(workspace.db, v.run);
            const uses = await lineage.datasetsForRun(workspace.db, v.run);
            out({ run: v.run, datasets: uses, imageIds: ids }, () =>
              [...uses.map(u => `${u.dataset} ${u.rev.slice(0, 7)} ${u.md5}`), `images: ${ids.join(', ') || '(none)'}`].join('\n')
            );
          } else {
            const uses = await lineage.runsForImage(workspace.db, num('image', v.image)!, v.project ?? workspace.project);
            out(uses, () => (uses.length ? uses.map(u => `${u.runId}: ${u.dataset} ${u.rev.slice(0, 7)}`).join('\n') : 'no runs used this image'));
          }
        } finally {
          await workspace.close();
        }
        return 0;
      }
      default:
        throw new DatasetUsageError(`unknown dataset subcommand ${sub}`);
    }
  } catch (error) {
    if (error instanceof DatasetUsageError) {
      console.error(`error: ${error.message}\n\n${DATASET_USAGE}`);
      return 2;
    }
    throw error;
  }
}
