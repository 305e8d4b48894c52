// Reading tracked runs back: a listing for the runs panel (`listRuns`) and one run with its metric
// histories, artifacts and model versions (`getRun`), each showable in a notebook as a card.
import { card, type IDisplayBundle, type IDisplayable } from '../display';
import { RunStore, type IRunStoreSource } from './store';
import type { IModelVersionInfo, IRunDetail, IRunQuery, IRunSummary } from './types';

/** Most points per metric curve a run card carries. */
export const CARD_POINTS = 2000;

const formatNumber = (v: number) => (Number.isInteger(v) ? String(v) : Number.isFinite(v) ? v.toPrecision(4) : String(v));
const datasetLabel = (r: IRunSummary) => (r.dataset ? `${r.dataset.name}@${r.dataset.rev.slice(0, 8)}` : null);
const seconds = (r: IRunSummary) => (r.endedAt ? Math.round((r.endedAt.getTime() - r.startedAt.getTime()) / 100) / 10 : null);

/** A listing of runs, newest first; `show(list)` draws the runs table. */
export class RunList implements IDisplayable {
  constructor(readonly runs: IRunSummary[]) {}

  /** Metric names seen in any run, sorted. */
  get metricKeys(): string[] {
    return [...new Set(this.runs.flatMap(r => Object.keys(r.latestMetrics)))].sort();
  }

  toDisplay(): IDisplayBundle {
    const keys = this.metricKeys;
    const experiments = [...new Set(this.runs.map(r => r.experiment))];
    return card({
      kind: 'table',
      title: `${this.runs.length} training run${this.runs.length === 1 ? '' : 's'}${experiments.length === 1 ? ` in ${experiments[0]}` : ''}`,
      status: this.runs.some(r => r.status === 'FAILED') ? 'warning' : 'ok',
      table: {
        columns: ['run', 'name', 'experiment', 'status', 'started', 'seconds', 'dataset', ...keys],
        rows: this.runs.map(r => [
          r.id,
          r.name,
          r.experiment,
          r.status,
          r.startedAt.toISOString(),
          seconds(r),
          datasetLabel(r),
          ...keys.map(k => (k in r.latestMetrics ? formatNumber(r.latestMetrics[k]) : null))
        ])
      },
      data: { runs: this.runs.map(r => ({ id: r.id, links: r.links })) }
    });
  }
}

/** One run with everything logged to it; `show(run)` draws its card with the metric histories as data. */
export class RunDetail implements IDisplayable {
  constructor(readonly run: IRunDetail) {}

  /**
   * The history of one metric as [step, value] pairs; with `maxPoints`, thinned to at most that
   * many by an even stride that keeps the first and the last point (for curves of long runs).
   */
  history(key: string, maxPoints?: number): [number, number][] {
    const all = (this.run.metrics[key] ?? []).map(p => [p.step, p.value] as [number, number]);
    if (maxPoints === undefined || all.length <= maxPoints) {
      return all;
    }
    if (maxPoints < 2) {
      return all.slice(-Math.max(0, maxPoints));
    }
    const stride = (all.length - 1) / (maxPoints - 1);
    return Array.from({ length: maxPoints }, (_, i) => all[Math.round(i * stride)]);
  }

  toDisplay(): IDisplayBundle {
    const r = this.run;
    const items: { label: string; value: string | number | null }[] = [
      { label: 'run', value: r.id },
      { label: 'experiment', value: r.experiment },
      { label: 'status', value: r.status },
      { label: 'started', value: r.startedAt.toISOString() },
      { label: 'ended', value: r.endedAt?.toISOString() ?? null },
      { label: 'dataset', value: r.dataset ? `${r.dataset.name} rev ${r.dataset.rev} md5 ${r.dataset.md5} (${r.dataset.imageIds.length} images)` : null },
      ...Object.entries(r.params).map(([k, v]) => ({ label: `param ${k}`, value: v })),
      ...Object.entries(r.latestMetrics).map(([k, v]) => ({ label: k, value: formatNumber(v) })),
      ...r.models.map((m: IModelVersionInfo) => ({
        label: `model ${m.name}`,
        value: `version ${m.version}${m.aliases.length ? ` (${m.aliases.join(', ')})` : ''} from ${m.artifactPath}`
      }))
    ];
    if (r.links.mlflow) {
      items.push({ label: 'mlflow', value: r.links.mlflow.url });
    }
    return card({
      kind: 'table',
      title: `run ${r.name}`,
      status: r.status === 'FAILED' || r.status === 'KILLED' ? 'warning' : 'ok',
      summary: `${r.artifacts.length} artifact${r.artifacts.length === 1 ? '' : 's'}, ${Object.keys(r.metrics).length} metrics`,
      items,
      table: {
        columns: ['artifact', 'bytes', 'sha256'],
        rows: r.artifacts.map(a => [a.path, a.size, a.sha256.slice(0, 16)])
      },
      data: {
        run: r.id,
        // Curves for the card: at most CARD_POINTS per metric; `history(key)` has them all.
        metrics: Object.fromEntries(Object.keys(r.metrics).map(k => [k, this.history(k, CARD_POINTS)]))
      }
    });
  }
}

/** Runs of the workspace's project, newest first, filtered by experiment, status or dataset. */
export async function listRuns(workspace: IRunStoreSource, query: IRunQuery = {}): Promise<RunList> {
  return new RunList(await new RunStore(workspace).listRuns(query));
}

/** One run of the workspace's project with its parameters, metric histories, artifacts and model versions. */
export async function getRun(workspace: IRunStoreSource, id: string): Promise<RunDetail> {
  return new RunDetail(await new RunStore(workspace).getRun(id));
}

/** A registered model version by number or alias (e.g. `getModelVersion(ws, 'cd-model', 'champion')`). */
export async function getModelVersion(workspace: IRunStoreSource, name: string, versionOrAlias: number | string): Promise<IModelVersionInfo> {
  return new RunStore(workspace).modelVersion(name, versionOrAlias);
}
