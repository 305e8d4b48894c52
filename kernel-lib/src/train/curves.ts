// Live training curves in a notebook: a changelab card (epoch table, latest values; rendered by
// the extension, HTML elsewhere) and an SVG chart of loss and IoU/F1 per epoch, both updated in
// place each epoch. SVG is plain image output, so the chart shows in any Jupyter front end and in
// shared notebooks without the extension. tslab has no comms, so updates go through display ids.

import { card, type IDisplayBundle } from '../display';
import type { ICallback } from './callbacks';
import type { Trainer } from './trainer';

type WriteDisplayData = (content: { data: Record<string, unknown>; metadata: object; transient: object }, update: boolean) => void;

/** The running tslab kernel's display writer (display.ts explains why it is looked up so). */
function kernelWriter(): WriteDisplayData | undefined {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (/[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file)) {
      const writer = (mod?.exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData;
      if (typeof writer === 'function') {
        return writer as WriteDisplayData;
      }
    }
  }
  return undefined;
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const escape = (s: string) => s.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

/** One panel: a line per key over the epochs of `history`. */
function panel(history: readonly Record<string, number>[], keys: readonly string[], title: string, x0: number, width: number, height: number): string {
  const pad = { left: 44, right: 8, top: 22, bottom: 30 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const present = keys.filter(k => history.some(r => Number.isFinite(r[k])));
  const values = present.flatMap(k => history.map(r => r[k]).filter(Number.isFinite));
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (hi - lo < 1e-9) {
    hi += 0.5;
    lo -= 0.5;
  }
  const n = Math.max(history.length - 1, 1);
  const px = (i: number) => x0 + pad.left + (w * i) / n;
  const py = (v: number) => pad.top + h - (h * (v - lo)) / (hi - lo);
  const out: string[] = [
    `<text x="${x0 + pad.left}" y="14" font-size="12" font-weight="bold">${escape(title)}</text>`,
    `<rect x="${x0 + pad.left}" y="${pad.top}" width="${w}" height="${h}" fill="none" stroke="#999" stroke-width="0.5"/>`,
    `<text x="${x0 + pad.left - 4}" y="${pad.top + 4}" font-size="10" text-anchor="end">${hi.toPrecision(3)}</text>`,
    `<text x="${x0 + pad.left - 4}" y="${pad.top + h}" font-size="10" text-anchor="end">${lo.toPrecision(3)}</text>`,
    `<text x="${x0 + pad.left + w / 2}" y="${height - 4}" font-size="10" text-anchor="middle">epoch</text>`
  ];
  present.forEach((k, j) => {
    const points = history.map((r, i) => (Number.isFinite(r[k]) ? `${px(i).toFixed(1)},${py(r[k]).toFixed(1)}` : '')).filter(Boolean);
    const colour = COLOURS[j % COLOURS.length];
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${points.join(' ')}"/>`);
    for (const p of points) {
      const [cx, cy] = p.split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="2" fill="${colour}"/>`);
    }
    out.push(`<text x="${x0 + pad.left + w - 6}" y="${pad.top + 12 + 12 * j}" font-size="10" text-anchor="end" fill="${colour}">${escape(k)}</text>`);
  });
  return out.join('');
}

/** An SVG chart of the losses and the IoU / F1 per epoch. */
export function curvesSvg(history: readonly Record<string, number>[]): string {
  const width = 320;
  const height = 200;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * width}" height="${height}" font-family="sans-serif">` +
    panel(history, ['train/loss', 'val/loss'], 'loss', 0, width, height) +
    panel(history, ['train/iou', 'val/iou', 'val/f1'], 'change IoU / F1', width, width, height) +
    '</svg>'
  );
}

const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? null : Number(v.toFixed(4)));

/** The run's card: latest values and a row per epoch. */
export function historyCard(title: string, history: readonly Record<string, number>[], status?: 'ok' | 'warning' | 'error', summary?: string): IDisplayBundle {
  const columns = ['epoch', 'step', 'train/loss', 'train/iou', 'val/loss', 'val/iou', 'val/f1'].filter(c => history.some(r => c in r));
  const last = history[history.length - 1] ?? {};
  return card({
    kind: 'progress',
    title,
    status,
    summary,
    items: Object.entries(last)
      .filter(([k]) => k !== 'epoch' && k !== 'step')
      .map(([label, v]) => ({ label, value: fmt(v) })),
    table: { columns, rows: history.map(r => columns.map(c => fmt(r[c]))) },
    data: { history }
  });
}

/** The chart as a display bundle (SVG image plus a text line). */
export function curvesBundle(history: readonly Record<string, number>[]): IDisplayBundle {
  const last = history[history.length - 1];
  return {
    data: {
      'image/svg+xml': curvesSvg(history),
      'text/plain': last ? `training curves: ${history.length} epochs, val/iou ${fmt(last['val/iou']) ?? '—'}` : 'training curves: no epoch yet'
    }
  };
}

/** Callback that shows the card and the chart in a notebook and updates both every epoch. */
export class LiveCurves implements ICallback {
  readonly name = 'LiveCurves';
  private readonly writer = kernelWriter();
  private readonly ids = { card: `changelab-run-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`, chart: '' };
  private shown = false;

  constructor(private readonly title = 'Training') {
    this.ids.chart = `${this.ids.card}-chart`;
  }

  /** Whether a notebook is there to show into. */
  get active(): boolean {
    return this.writer !== undefined;
  }

  private draw(history: readonly Record<string, number>[], status?: 'ok' | 'warning' | 'error', summary?: string): void {
    if (!this.writer) {
      return;
    }
    const c = historyCard(this.title, history, status, summary);
    const chart = curvesBundle(history);
    this.writer({ data: c.data, metadata: {}, transient: { display_id: this.ids.card } }, this.shown);
    this.writer({ data: chart.data, metadata: {}, transient: { display_id: this.ids.chart } }, this.shown);
    this.shown = true;
  }

  onFitStart(trainer: Trainer): void {
    this.draw(trainer.history, undefined, 'starting');
  }

  onEpochEnd(trainer: Trainer): void {
    this.draw(trainer.history, undefined, `epoch ${trainer.position.epoch}${trainer.maxEpochs ? ` of ${trainer.maxEpochs}` : ''}`);
  }

  onFitEnd(trainer: Trainer, status: string): void {
    if (!this.shown) {
      return; // failed before the first step (a missing device): the error says it all
    }
    this.draw(trainer.history, status === 'finished' || status === 'stopped' ? 'ok' : 'warning', status);
  }
}
