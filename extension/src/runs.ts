// The "Training runs" side panel: tracked runs of the project from the changelab service (newest
// first, with their last metric values and dataset version); choosing one shows its parameters,
// a line chart per metric, its artifacts, registered models and the dataset version it used.
import { LabIcon } from '@jupyterlab/ui-components';
import { Token } from '@lumino/coreutils';
import { lineChart } from './panels/chart';
import { badge, el, facts, formatBytes, table, time, valueText } from './panels/dom';
import { LivePanel } from './panels/live-panel';

export const OPEN_RUNS_COMMAND = 'changelab:open-runs-panel';

// A rising curve on axes: metrics over training steps.
export const runsIcon = new LabIcon({
  name: 'changelab:runs',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 3h2v16h16v2H3V3Z"/>
    <path d="m7 15.6 4.2-5.2 3.3 2.6L19.6 6l1.6 1.2-6.4 8.6-3.3-2.6-3 3.7L7 15.6Z"/>
  </g>
</svg>`
});

export interface ITrainingRunSummary {
  id: string;
  experiment: string;
  name: string;
  status: 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';
  startedAt: string;
  endedAt: string | null;
  dataset: { name: string; rev: string; md5: string; imageIds: number[]; path: string | null } | null;
  latestMetrics: Record<string, number>;
}

export interface ITrainingRunDetail extends ITrainingRunSummary {
  params: Record<string, string>;
  metrics: Record<string, [number, number][]>;
  metricPoints: Record<string, number>;
  artifacts: { path: string; key: string; size: number; sha256: string; loggedAt: string }[];
  models: { name: string; version: number; artifactPath: string; aliases: string[] }[];
  links: { mlflow?: { url: string } };
}

export class TrainingRunsPanel extends LivePanel {
  static readonly id = 'changelab-runs-panel';
  runs: ITrainingRunSummary[] = [];
  selected: ITrainingRunDetail | null = null;

  constructor(options: { serviceUrl?: string; project?: string } = {}) {
    super({
      id: TrainingRunsPanel.id,
      className: 'jp-changelab-runs-panel',
      label: 'Training runs',
      explanation: 'Training runs of this project: parameters, metric curves, artifacts and the dataset version each trained on.',
      emptyMessage: 'No training runs yet. Train a model from a notebook (train()) to see its run here.',
      icon: runsIcon,
      ...options
    });
  }

  private detailNode: HTMLElement = el('section', { class: 'jp-changelab-runs-detail', 'aria-label': 'Selected training run' });

  protected async load(): Promise<void> {
    this.runs = (await this.service.get<{ runs: ITrainingRunSummary[] }>('api/runs', { limit: 200 })).runs;
    if (this.selected && !this.runs.some(r => r.id === this.selected!.id)) {
      this.selected = null;
    }
  }

  protected isEmpty(): boolean {
    return this.runs.length === 0;
  }

  protected render(): void {
    this.setStatus(this.runs.length ? `${this.runs.length} run${this.runs.length === 1 ? '' : 's'}` : 'No runs recorded.');
    const keys = [...new Set(this.runs.flatMap(r => Object.keys(r.latestMetrics)))].sort().slice(0, 3);
    const list = table<ITrainingRunSummary>(
      'Training runs, newest first',
      [
        { title: 'Run', cell: r => el('span', { title: r.id }, r.name) },
        { title: 'Experiment', cell: r => r.experiment },
        { title: 'Status', cell: r => (r.status === 'RUNNING' ? r.status.toLowerCase() : badge(r.status === 'FINISHED', 'finished', r.status.toLowerCase())) },
        { title: 'Started', cell: r => time(r.startedAt) },
        { title: 'Dataset', cell: r => (r.dataset ? el('code', { title: r.dataset.rev }, `${r.dataset.name}@${r.dataset.rev.slice(0, 7)}`) : '—') },
        ...keys.map(k => ({ title: k, cell: (r: ITrainingRunSummary) => (k in r.latestMetrics ? valueText(r.latestMetrics[k]) : '—'), className: 'jp-mod-number' }))
      ],
      this.runs,
      {
        className: 'jp-changelab-runs-list',
        rowLabel: r => `Run ${r.name} in ${r.experiment}, ${r.status.toLowerCase()}`,
        onSelect: r => void this.select(r.id)
      }
    );
    this.contentNode.replaceChildren(list, this.detailNode);
    if (this.selected) {
      list.querySelectorAll('tbody tr')[this.runs.findIndex(r => r.id === this.selected!.id)]?.setAttribute('aria-selected', 'true');
      this.renderDetail();
    } else {
      this.detailNode.replaceChildren();
    }
  }

  async select(id: string): Promise<void> {
    try {
      this.selected = await this.service.get<ITrainingRunDetail>(`api/runs/${encodeURIComponent(id)}`, { points: 400 });
      this.renderDetail();
    } catch (error) {
      this.setStatus(`Could not load run ${id}: ${(error as Error).message}`, true);
    }
  }

  private renderDetail(): void {
    const r = this.selected;
    if (!r) {
      return;
    }
    const seconds = r.endedAt ? (Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000 : null;
    const parts: (HTMLElement | SVGElement)[] = [
      el('h3', { class: 'jp-changelab-live-heading' }, `${r.name} (${r.experiment})`),
      facts([
        ['Run id', el('code', {}, r.id)],
        ['Status', r.status.toLowerCase()],
        ['Started', time(r.startedAt)],
        ['Duration', seconds === null ? 'running' : `${valueText(seconds)} s`],
        ['Dataset', r.dataset ? `${r.dataset.name} at ${r.dataset.rev.slice(0, 12)} (${r.dataset.md5}, ${r.dataset.imageIds.length} images)` : 'none recorded'],
        ...(r.links.mlflow ? ([['MLflow', el('a', { href: r.links.mlflow.url, target: '_blank', rel: 'noopener' }, r.links.mlflow.url)]] as [string, HTMLElement][]) : [])
      ])
    ];
    const params = Object.entries(r.params);
    parts.push(el('h4', { class: 'jp-changelab-live-subheading' }, `Parameters (${params.length})`));
    if (params.length) {
      parts.push(table(`Parameters of ${r.name}`, [{ title: 'Name', cell: (p: [string, string]) => p[0] }, { title: 'Value', cell: p => el('code', {}, p[1]) }], params, { className: 'jp-changelab-runs-params' }));
    }
    const metricKeys = Object.keys(r.metrics).sort();
    parts.push(el('h4', { class: 'jp-changelab-live-subheading' }, `Metrics (${metricKeys.length})`));
    const charts = el('div', { class: 'jp-changelab-runs-charts' });
    for (const k of metricKeys) {
      const shown = r.metrics[k].length;
      const logged = r.metricPoints[k] ?? shown;
      charts.append(
        el(
          'figure',
          { class: 'jp-changelab-runs-chart', 'data-metric': k },
          lineChart(k, r.metrics[k]) as unknown as HTMLElement,
          el('figcaption', {}, `${k}: last ${valueText(r.latestMetrics[k])}${logged > shown ? ` (${shown} of ${logged} points drawn)` : ''}`)
        )
      );
    }
    parts.push(charts);
    parts.push(el('h4', { class: 'jp-changelab-live-subheading' }, `Artifacts (${r.artifacts.length})`));
    if (r.artifacts.length) {
      parts.push(
        table(`Artifacts of ${r.name}`, [
          { title: 'Path', cell: (a: ITrainingRunDetail['artifacts'][number]) => el('code', {}, a.path) },
          { title: 'Size', cell: a => formatBytes(a.size), className: 'jp-mod-number' },
          { title: 'SHA-256', cell: a => el('code', { title: a.sha256 }, a.sha256.slice(0, 12)) }
        ], r.artifacts, { className: 'jp-changelab-runs-artifacts' })
      );
    }
    if (r.models.length) {
      parts.push(el('h4', { class: 'jp-changelab-live-subheading' }, 'Registered models'));
      parts.push(el('ul', {}, ...r.models.map(m => el('li', {}, `${m.name} version ${m.version}${m.aliases.length ? ` (${m.aliases.join(', ')})` : ''} from ${m.artifactPath}`))));
    }
    this.detailNode.replaceChildren(...parts);
  }
}

/** The left-side panel that lists training runs. */
export const ITrainingRunsPanel = new Token<TrainingRunsPanel>('changelab:ITrainingRunsPanel', 'The left-side panel listing training runs (parameters, metric curves, artifacts).');
