// What `logArtifact(localPath, artifactPath)` stores: one file, or every file under a folder, each
// with its '/'-separated path relative to the run. Both loggers expand artifacts the same way, so a
// run's artifact list is the same in the workspace and in MLflow.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { NotFoundError, StorageError } from '../errors';
import { checkKey } from '../objects/store';

export interface IArtifactFile {
  /** Absolute local file. */
  file: string;
  /** Relative to the run, '/'-separated. */
  path: string;
  size: number;
}

/** Checks an artifact path: relative, '/'-separated, no `.`/`..` parts. */
export function checkArtifactPath(artifactPath: string): string {
  const p = artifactPath.replace(/\/+$/, '');
  try {
    checkKey(p);
  } catch {
    throw new StorageError(
      `invalid artifact path ${JSON.stringify(artifactPath)}: use a relative '/'-separated path such as model/model.onnx`,
      { artifactPath }
    );
  }
  return p;
}

/** The files `localPath` stands for (itself, or those under it in sorted order) and their artifact paths. */
export async function artifactFiles(localPath: string, artifactPath: string): Promise<IArtifactFile[]> {
  const base = checkArtifactPath(artifactPath);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(localPath);
  } catch (cause) {
    throw new NotFoundError(`cannot log artifact ${base}: ${localPath} does not exist`, { localPath, artifactPath }, { cause });
  }
  if (stat.isFile()) {
    return [{ file: path.resolve(localPath), path: base, size: stat.size }];
  }
  if (!stat.isDirectory()) {
    throw new StorageError(`cannot log artifact ${base}: ${localPath} is neither a file nor a folder`, { localPath });
  }
  const out: IArtifactFile[] = [];
  const walk = async (dir: string, rel: string) => {
    const entries = await fs.promises.readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const file = path.join(dir, e.name);
      if (e.isDirectory()) {
        await walk(file, `${rel}/${e.name}`);
      } else if (e.isFile()) {
        out.push({ file, path: checkArtifactPath(`${rel}/${e.name}`), size: (await fs.promises.stat(file)).size });
      }
    }
  };
  await walk(path.resolve(localPath), base);
  return out;
}

/** The file's sha256 (hex), streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}
