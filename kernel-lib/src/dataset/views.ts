// What dataset calls return: plain data (for the versions panel and JSON output) that also shows
// itself in a notebook as a changelab card.
import { card, type IDisplayable, type IDisplayBundle } from '../display';

export interface IDatasetVersion {
  name: string;
  /** Full git commit id. */
  rev: string;
  shortRev: string;
  tags: string[];
  message: string;
  author: string;
  email: string;
  /** Author date, ISO 8601. */
  date: string;
  /** The .dvc out md5 (`<md5>.dir`). */
  md5: string;
  /** Bytes and file count as recorded in the .dvc file. */
  size: number | null;
  nfiles: number | null;
}

export interface IFileChanges {
  name: string;
  added: string[];
  deleted: string[];
  modified: string[];
}

export interface IDatasetStatus extends IFileChanges {
  /** The .dvc file's md5, or null when the dataset has none. */
  md5: string | null;
  workspace: 'clean' | 'modified' | 'missing' | 'not in cache' | 'not committed';
  /** Objects of this version the local cache lacks. */
  missingInCache: number;
  /** Objects the remote lacks (only with `status({remote})`). */
  missingOnRemote?: number;
  /** The commit whose .dvc file is the one in the work tree (HEAD when it is), null when uncommitted. */
  rev: string | null;
  /** Whether that commit is HEAD (false after checking out an older version). */
  atHead: boolean;
}

export const formatBytes = (n: number | null) => {
  if (n === null) {
    return null;
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
};

export class VersionList implements IDisplayable {
  constructor(readonly versions: IDatasetVersion[]) {}

  toJSON() {
    return this.versions;
  }

  toDisplay(): IDisplayBundle {
    return card({
      kind: 'table',
      title: `${this.versions.length} dataset version${this.versions.length === 1 ? '' : 's'}`,
      table: {
        columns: ['dataset', 'rev', 'tags', 'date', 'author', 'files', 'size', 'message'],
        rows: this.versions.map(v => [v.name, v.shortRev, v.tags.join(', '), v.date, v.author, v.nfiles, formatBytes(v.size), v.message])
      },
      data: { versions: this.versions }
    });
  }
}

export class DatasetDiff implements IDisplayable {
  constructor(
    readonly from: string,
    readonly to: string,
    readonly datasets: IFileChanges[]
  ) {}

  get summary() {
    const sum = (k: 'added' | 'deleted' | 'modified') => this.datasets.reduce((s, d) => s + d[k].length, 0);
    return { added: sum('added'), deleted: sum('deleted'), modified: sum('modified') };
  }

  toJSON() {
    return { from: this.from, to: this.to, summary: this.summary, datasets: this.datasets };
  }

  toDisplay(): IDisplayBundle {
    const s = this.summary;
    const rows: Array<[string, string, string]> = [];
    for (const d of this.datasets) {
      for (const [kind, list] of [['added', d.added], ['deleted', d.deleted], ['modified', d.modified]] as const) {
        for (const file of list.slice(0, 200)) {
          rows.push([d.name, kind, file]);
        }
      }
    }
    return card({
      kind: 'table',
      title: `dataset diff ${this.from} → ${this.to}`,
      status: s.added + s.deleted + s.modified === 0 ? 'ok' : undefined,
      summary: `${s.added} added, ${s.deleted} deleted, ${s.modified} modified`,
      table: { columns: ['dataset', 'change', 'file'], rows },
      data: this.toJSON()
    });
  }
}

export class DatasetStatusList implements IDisplayable {
  constructor(readonly datasets: IDatasetStatus[]) {}

  get clean(): boolean {
    return this.datasets.every(d => d.workspace === 'clean' && d.rev !== null && d.missingInCache === 0 && !d.missingOnRemote);
  }

  toJSON() {
    return this.datasets;
  }

  toDisplay(): IDisplayBundle {
    return card({
      kind: 'table',
      title: 'dataset status',
      status: this.clean ? 'ok' : 'warning',
      table: {
        columns: ['dataset', 'workspace', 'version', 'added', 'deleted', 'modified', 'missing in cache', 'missing on remote'],
        rows: this.datasets.map(d => [
          d.name,
          d.workspace,
          d.rev === null ? 'uncommitted .dvc file' : `${d.rev.slice(0, 7)}${d.atHead ? ' (HEAD)' : ''}`,
          d.added.length,
          d.deleted.length,
          d.modified.length,
          d.missingInCache,
          d.missingOnRemote ?? null
        ])
      },
      data: { datasets: this.datasets }
    });
  }
}

export class TransferSummary implements IDisplayable {
  constructor(
    readonly direction: 'push' | 'pull',
    readonly remote: string,
    readonly url: string,
    /** Objects considered (files and .dir manifests). */
    readonly objects: number,
    /** Objects transferred now. */
    readonly transferred: number,
    /** Objects the other side already had. */
    readonly skipped: number,
    readonly bytes: number,
    readonly ms: number
  ) {}

  toString(): string {
    return `${this.direction} ${this.remote} (${this.url}): ${this.transferred} object(s) transferred (${formatBytes(this.bytes)}), ${this.skipped} already there, ${(this.ms / 1000).toFixed(1)} s`;
  }

  toJSON() {
    const { direction, remote, url, objects, transferred, skipped, bytes, ms } = this;
    return { direction, remote, url, objects, transferred, skipped, bytes, ms };
  }

  toDisplay(): IDisplayBundle {
    return card({
      kind: 'status',
      title: `dataset ${this.direction}`,
      status: 'ok',
      summary: this.toString(),
      items: [
        { label: 'remote', value: `${this.remote} — ${this.url}` },
        { label: 'transferred', value: this.transferred },
        { label: 'already there', value: this.skipped },
        { label: 'bytes', value: formatBytes(this.bytes) },
        { label: 'seconds', value: Number((this.ms / 1000).toFixed(2)) }
      ]
    });
  }
}
