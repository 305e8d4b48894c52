// Lineage: which dataset version each training run used (git rev, .dir md5) and the catalog images
// behind it, in the `run_datasets` table. "Which images trained model X" and "which runs used image
// Y" are one query each; retraining on an old run's data is `dataset.checkout(use.rev)`.
import type { IQueryable } from '../db/database';
import { ChangelabError } from '../errors';
import type { IDatasetRef } from './manifest';

export interface IDatasetUse {
  runId: string;
  project: string;
  dataset: string;
  rev: string;
  md5: string;
  imageIds: number[];
  recordedAt: Date;
}

interface IRow {
  run_id: string;
  project: string;
  dataset: string;
  git_rev: string;
  dvc_md5: string;
  image_ids: Array<string | number>;
  recorded_at: Date;
}

const toUse = (r: IRow): IDatasetUse => ({
  runId: r.run_id,
  project: r.project,
  dataset: r.dataset,
  rev: r.git_rev,
  md5: r.dvc_md5,
  imageIds: (r.image_ids ?? []).map(Number),
  recordedAt: r.recorded_at
});

/** Records that `runId` trained on `ref` (idempotent: a second call for the same run and dataset replaces it). */
export async function recordUse(db: IQueryable, project: string, runId: string, ref: IDatasetRef): Promise<IDatasetUse> {
  if (typeof runId !== 'string' || runId.trim() === '') {
    throw new ChangelabError('recordUse needs a run id', { runId });
  }
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(ref?.rev ?? '') || !/^[0-9a-f]{32}\.dir$/.test(ref?.md5 ?? '')) {
    throw new ChangelabError(
      `recordUse needs a committed dataset reference (from dataset.ref(name)); got rev ${JSON.stringify(ref?.rev)}, md5 ${JSON.stringify(ref?.md5)}`,
      { ref }
    );
  }
  const ids = (ref.imageIds ?? []).map(id => {
    if (!Number.isSafeInteger(id)) {
      throw new ChangelabError(`image id ${JSON.stringify(id)} is not an integer`, { id });
    }
    return String(id);
  });
  const [row] = await db.query<IRow>(
    `INSERT INTO run_datasets (run_id, project, dataset, git_rev, dvc_md5, image_ids)
     VALUES ($1, $2, $3, $4, $5, $6::bigint[])
     ON CONFLICT (run_id, dataset) DO UPDATE
       SET project = EXCLUDED.project, git_rev = EXCLUDED.git_rev, dvc_md5 = EXCLUDED.dvc_md5,
           image_ids = EXCLUDED.image_ids, recorded_at = now()
     RETURNING run_id, project, dataset, git_rev, dvc_md5, image_ids::text[] AS image_ids, recorded_at`,
    [runId, project, ref.name, ref.rev, ref.md5, ids]
  );
  return toUse(row);
}

/** The dataset versions a run used. */
export async function datasetsForRun(db: IQueryable, runId: string): Promise<IDatasetUse[]> {
  const rows = await db.query<IRow>(
    `SELECT run_id, project, dataset, git_rev, dvc_md5, image_ids::text[] AS image_ids, recorded_at
       FROM run_datasets WHERE run_id = $1 ORDER BY dataset`,
    [runId]
  );
  return rows.map(toUse);
}

/** `image_metadata` ids of every image behind the datasets a run trained on ("which images trained model X"). */
export async function imagesForRun(db: IQueryable, runId: string): Promise<number[]> {
  const rows = await db.query<{ id: string }>(
    `SELECT DISTINCT unnest(image_ids)::text AS id FROM run_datasets WHERE run_id = $1`,
    [runId]
  );
  return rows.map(r => Number(r.id)).sort((a, b) => a - b);
}

/** Runs whose datasets were built from this image ("which runs used image Y"). */
export async function runsForImage(db: IQueryable, imageId: number, project?: string): Promise<IDatasetUse[]> {
  const rows = await db.query<IRow>(
    `SELECT run_id, project, dataset, git_rev, dvc_md5, image_ids::text[] AS image_ids, recorded_at
       FROM run_datasets WHERE image_ids @> ARRAY[$1::bigint] AND ($2::text IS NULL OR project = $2)
      ORDER BY recorded_at, run_id`,
    [String(imageId), project ?? null]
  );
  return rows.map(toUse);
}

/** Runs that used one version of a dataset (by its .dir md5), for the versions panel. */
export async function runsForVersion(db: IQueryable, dataset: string, md5: string, project?: string): Promise<IDatasetUse[]> {
  const rows = await db.query<IRow>(
    `SELECT run_id, project, dataset, git_rev, dvc_md5, image_ids::text[] AS image_ids, recorded_at
       FROM run_datasets WHERE dataset = $1 AND dvc_md5 = $2 AND ($3::text IS NULL OR project = $3)
      ORDER BY recorded_at, run_id`,
    [dataset, md5, project ?? null]
  );
  return rows.map(toUse);
}
