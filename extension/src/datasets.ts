// The "Dataset versions" side panel: the datasets of the workspace (DVC-format commits of chips and
// labels) from the changelab service, each with its versions (git history of its .dvc file), the
// runs that trained on each version, a diff between two versions, and a checkout that asks first
// when the workspace has uncommitted dataset changes.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import { datasetsIcon } from './icons';
import { ServiceRefusal } from './panels/client';
import { button, el, formatBytes, table, time } from './panels/dom';
import { LivePanel } from './panels/live-panel';

export interface IDatasetState {
  name: string;
  md5: string | null;
  workspace: 'clean' | 'modified' | 'missing' | 'not in cache' | 'not committed';
  rev: string | null;
  atHead: boolean;
  changes: { added: number; deleted: number; modified: number };
  uncommitted: string | null;
  versions: number;
}

export interface IVersionRun {
  runId: string;
  rev: string;
  name: string | null;
  experiment: string | null;
  status: string | null;
}

export interface IDatasetVersionView {
  name: string;
  rev: string;
  shortRev: string;
  tags: string[];
  message: string;
  author: string;
  email: string;
  date: string;
  md5: string;
  size: number | null;
  nfiles: number | null;
  runs: IVersionRun[];
}

export interface IDatasetDiffView {
  name: string;
  from: string;
  to: string;
  summary: { added: number; deleted: number; modified: number };
  added: string[];
  deleted: string[];
  modified: string[];
  truncated: boolean;
}

const versionLabel = (v: IDatasetVersionView) => `${v.shortRev}${v.tags.length ? ` (${v.tags.join(', ')})` : ''}`;

export class DatasetVersionsPanel extends LivePanel {
  static readonly id = 'changelab-datasets-panel';
  root = '';
  datasets: IDatasetState[] = [];
  versions = new Map<string, IDatasetVersionView[]>();
  diffs = new Map<string, IDatasetDiffView>();
  /** Asks the user before overwriting uncommitted changes; tests and other front ends may replace it. */
  confirmForce: (name: string, rev: string, uncommitted: string[]) => Promise<boolean> = confirmOverwrite;

  constructor(options: { serviceUrl?: string; project?: string } = {}) {
    super({
      id: DatasetVersionsPanel.id,
      className: 'jp-changelab-datasets-panel',
      label: 'Dataset versions',
      explanation:
        'Versions of your datasets: each commit of chips and labels, when it was made and from which image pairs.',
      emptyMessage:
        'No dataset versions yet. Build and commit a dataset from a notebook to see it here.',
      icon: datasetsIcon,
      ...options
    });
  }

  protected async load(): Promise<void> {
    const list = await this.service.get<{ root: string; clean: boolean; datasets: IDatasetState[] }>('api/datasets');
    this.root = list.root;
    this.datasets = list.datasets;
    const versions = await Promise.all(list.datasets.map(d => this.service.get<{ versions: IDatasetVersionView[] }>(`api/datasets/${encodeURIComponent(d.name)}/versions`)));
    this.versions = new Map(list.datasets.map((d, i) => [d.name, versions[i].versions]));
  }

  protected isEmpty(): boolean {
    return this.datasets.length === 0;
  }

  protected render(): void {
    const dirty = this.datasets.filter(d => d.uncommitted !== null).length;
    this.setStatus(
      this.datasets.length
        ? `${this.datasets.length} dataset${this.datasets.length === 1 ? '' : 's'} in ${this.root}${dirty ? `; ${dirty} with uncommitted changes` : ''}`
        : `No datasets in ${this.root}.`
    );
    this.contentNode.replaceChildren(...this.datasets.map(d => this.renderDataset(d)));
  }

  private renderDataset(d: IDatasetState): HTMLElement {
    const versions = this.versions.get(d.name) ?? [];
    const section = el('section', { class: 'jp-changelab-dataset', 'aria-label': `Dataset ${d.name}`, 'data-dataset': d.name });
    const state =
      d.uncommitted !== null
        ? el('span', { class: 'jp-changelab-live-badge jp-mod-bad' }, d.workspace === 'modified' ? `modified: ${d.changes.added} added, ${d.changes.deleted} deleted, ${d.changes.modified} changed` : d.workspace)
        : el('span', { class: 'jp-changelab-live-badge jp-mod-ok' }, d.rev ? `at ${d.rev.slice(0, 7)}${d.atHead ? ' (HEAD)' : ''}` : d.workspace);
    section.append(el('h3', { class: 'jp-changelab-live-heading' }, d.name, ' ', state));
    section.append(
      table<IDatasetVersionView>(
        `Versions of ${d.name}, newest first`,
        [
          { title: 'Version', cell: v => el('code', { title: v.rev }, versionLabel(v)) },
          { title: 'Message', cell: v => v.message },
          { title: 'Author', cell: v => el('span', { title: v.email }, v.author) },
          { title: 'Date', cell: v => time(v.date) },
          { title: 'Files', cell: v => v.nfiles ?? '—', className: 'jp-mod-number' },
          { title: 'Size', cell: v => formatBytes(v.size), className: 'jp-mod-number' },
          {
            title: 'Runs',
            cell: v =>
              v.runs.length
                ? el('ul', { class: 'jp-changelab-dataset-runs' }, ...v.runs.map(r => el('li', { title: r.runId }, `${r.name ?? r.runId.slice(0, 8)}${r.status ? ` (${r.status.toLowerCase()})` : ''}`)))
                : el('span', { class: 'jp-changelab-live-muted' }, 'none')
          },
          {
            title: 'Actions',
            cell: v =>
              d.rev === v.rev && d.uncommitted === null
                ? el('span', { class: 'jp-changelab-live-muted' }, 'checked out')
                : button('Check out', () => void this.checkout(d.name, v.rev, versionLabel(v)), { label: `Check out ${d.name} at ${versionLabel(v)}` })
          }
        ],
        versions,
        { className: 'jp-changelab-dataset-versions', rowClass: v => (d.rev === v.rev ? 'jp-mod-current' : undefined) }
      )
    );
    if (versions.length >= 1) {
      section.append(this.renderDiffForm(d.name, versions));
    }
    const diff = this.diffs.get(d.name);
    if (diff) {
      section.append(renderDiff(diff, rev => versions.find(v => v.rev === rev)));
    }
    return section;
  }

  private renderDiffForm(name: string, versions: IDatasetVersionView[]): HTMLElement {
    const id = `${DatasetVersionsPanel.id}-${name}`;
    const choice = (which: 'from' | 'to', selected: number, withWorkspace: boolean) => {
      const select = el('select', { id: `${id}-${which}`, class: 'jp-changelab-live-select' });
      for (const v of versions) {
        select.append(el('option', { value: v.rev }, `${versionLabel(v)} ${v.message.slice(0, 40)}`));
      }
      if (withWorkspace) {
        select.append(el('option', { value: '' }, 'workspace (uncommitted)'));
      }
      select.selectedIndex = selected;
      return select;
    };
    const from = choice('from', Math.min(1, versions.length - 1), false);
    const to = choice('to', 0, true);
    const form = el('form', { class: 'jp-changelab-dataset-diff-form', 'aria-label': `Compare two versions of ${name}` });
    form.append(
      el('label', { for: from.id }, 'From'),
      from,
      el('label', { for: to.id }, 'To'),
      to,
      el('button', { type: 'submit', class: 'jp-changelab-live-button jp-mod-default', 'aria-label': `Show the diff of ${name}` }, 'Diff')
    );
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this.diff(name, from.value, to.value || undefined);
    });
    return form;
  }

  /** Loads and shows the files added, deleted and modified between two versions (or a version and the workspace). */
  async diff(name: string, from: string, to?: string): Promise<void> {
    try {
      const d = await this.service.get<IDatasetDiffView>(`api/datasets/${encodeURIComponent(name)}/diff`, { from, to });
      this.diffs.set(name, d);
      this.render();
    } catch (error) {
      this.setStatus(`Could not diff ${name}: ${(error as Error).message}`, true);
    }
  }

  /** Checks a version out; when the service refuses over uncommitted changes, asks, then forces. */
  async checkout(name: string, rev: string, label = rev.slice(0, 7)): Promise<boolean> {
    const attempt = (force: boolean) => this.service.post<{ datasets: { name: string; written: number; deleted: number; unchanged: number }[] }>('api/datasets/checkout', { rev, name, force });
    try {
      let done;
      try {
        done = await attempt(false);
      } catch (error) {
        if (!(error instanceof ServiceRefusal) || error.status !== 409) {
          throw error;
        }
        const uncommitted = (error.body.uncommitted as string[] | undefined) ?? [error.message];
        if (!(await this.confirmForce(name, label, uncommitted))) {
          this.setStatus(`Checkout of ${name} at ${label} cancelled; nothing changed.`);
          return false;
        }
        done = await attempt(true);
      }
      await this.refresh();
      const r = done.datasets.find(x => x.name === name);
      this.setStatus(`Checked out ${name} at ${label}${r ? `: ${r.written} written, ${r.deleted} deleted, ${r.unchanged} unchanged` : ''}.`);
      return true;
    } catch (error) {
      this.setStatus(`Could not check out ${name} at ${label}: ${(error as Error).message}`, true);
      return false;
    }
  }
}

function renderDiff(d: IDatasetDiffView, version: (rev: string) => IDatasetVersionView | undefined): HTMLElement {
  const box = el('section', { class: 'jp-changelab-dataset-diff', 'aria-label': `Diff of ${d.name}` });
  const label = (rev: string) => {
    const v = version(rev);
    return v ? versionLabel(v) : rev.slice(0, 12);
  };
  const from = label(d.from);
  const to = d.to === 'workspace' ? 'the workspace' : label(d.to);
  box.append(
    el('h4', { class: 'jp-changelab-live-subheading' }, `${from} → ${to}: ${d.summary.added} added, ${d.summary.deleted} deleted, ${d.summary.modified} modified`)
  );
  const files = [
    ...d.added.map(f => ({ change: 'added', file: f })),
    ...d.deleted.map(f => ({ change: 'deleted', file: f })),
    ...d.modified.map(f => ({ change: 'modified', file: f }))
  ];
  if (files.length) {
    box.append(
      table(`Files changed from ${from} to ${to}`, [
        { title: 'Change', cell: x => el('span', { class: `jp-changelab-dataset-change jp-mod-${x.change}` }, x.change) },
        { title: 'File', cell: x => el('code', {}, x.file) }
      ], files, { className: 'jp-changelab-dataset-diff-files' })
    );
  } else {
    box.append(el('p', { class: 'jp-changelab-live-muted' }, 'No files differ.'));
  }
  if (d.truncated) {
    box.append(el('p', { class: 'jp-changelab-live-muted' }, 'Only the first 1000 files of each kind are listed.'));
  }
  return box;
}

/** JupyterLab's dialog: overwrite the uncommitted changes, or keep them. */
async function confirmOverwrite(name: string, label: string, uncommitted: string[]): Promise<boolean> {
  const body = el('div', { class: 'jp-changelab-dataset-confirm' });
  body.append(
    el('p', {}, `The workspace has uncommitted dataset changes. Checking out ${name} at ${label} overwrites them:`),
    el('ul', {}, ...uncommitted.map(u => el('li', {}, u))),
    el('p', {}, 'Commit them first (dataset.commit) to keep them.')
  );
  const result = await showDialog({
    title: `Overwrite uncommitted changes in ${name}?`,
    body: new Widget({ node: body }),
    buttons: [Dialog.cancelButton({ label: 'Keep my changes' }), Dialog.warnButton({ label: 'Overwrite and check out' })],
    defaultButton: 0
  });
  return result.button.accept;
}
