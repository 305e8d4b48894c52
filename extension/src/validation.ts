// The "Validation results" side panel: the recorded runs of expectation suites (Great Expectations
// 1.x results) from the changelab service, newest first; choosing a run shows its failed
// expectations with the offending values and rows GE reported, and for ingest gate runs the
// quarantined files with their quarantine entries (and a way to the Map previews quarantine list).
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { validationIcon } from './icons';
import type { MapPreviewsPanel } from './maps';
import { button, badge, el, facts, table, time, valueText } from './panels/dom';
import { LivePanel } from './panels/live-panel';

/** A run as `/api/validation/runs` lists it. */
export interface IValidationRunSummary {
  id: number;
  suiteName: string;
  suiteVersion: string;
  target: string;
  targetKind: 'table' | 'rows' | 'ingest-batch';
  rowCount: number;
  snapshotAt: string;
  success: boolean;
  evaluated: number;
  successful: number;
  successPercent: number | null;
  origin: string;
  seconds: number | null;
  createdAt: string;
}

export interface IExpectationView {
  position: number;
  type: string;
  columns: string | null;
  kwargs: Record<string, unknown>;
  success: boolean;
  elementCount: number | null;
  unexpectedCount: number | null;
  unexpectedPercent: number | null;
  missingCount: number | null;
  observedValue: unknown;
  partialUnexpectedList: unknown[];
  partialUnexpectedCounts: { value: unknown; count: number }[];
  partialUnexpectedIndexList: number[];
  exception: string | null;
  quarantinedKeys: string[];
}

export interface IQuarantineLink {
  id: number;
  key: string;
  reason: string;
  lastSeen: string;
  resolved: boolean;
}

export interface IValidationRunDetail {
  run: IValidationRunSummary;
  statistics: { evaluated_expectations: number; successful_expectations: number; unsuccessful_expectations: number; success_percent: number | null };
  expectations: IExpectationView[];
  quarantine: IQuarantineLink[];
}

export class ValidationResultsPanel extends LivePanel {
  static readonly id = 'changelab-validation-panel';
  runs: IValidationRunSummary[] = [];
  selected: IValidationRunDetail | null = null;
  /** Set by the wiring when the Map previews panel is there: shows its quarantine list. */
  showQuarantine: ((key: string) => void) | null = null;

  constructor(options: { serviceUrl?: string; project?: string } = {}) {
    super({
      id: ValidationResultsPanel.id,
      className: 'jp-changelab-validation-panel',
      label: 'Validation results',
      explanation:
        'Results of expectation suites run on datasets, tables and ingested images, with the failing expectations.',
      emptyMessage:
        'No validation results yet. Run validate() on a dataset or a table to see the outcome here.',
      icon: validationIcon,
      ...options
    });
  }

  private failedOnly = false;
  private detailNode: HTMLElement = el('section', { class: 'jp-changelab-validation-detail', 'aria-label': 'Selected validation run' });

  protected override addToolbarItems(toolbar: HTMLElement): void {
    const box = el('input', { type: 'checkbox', id: `${ValidationResultsPanel.id}-failed` });
    box.addEventListener('change', () => {
      this.failedOnly = box.checked;
      void this.refresh();
    });
    toolbar.append(el('label', { class: 'jp-changelab-live-check', for: box.id }, box, 'Failed runs only'));
  }

  protected async load(): Promise<void> {
    const { runs } = await this.service.get<{ runs: IValidationRunSummary[] }>('api/validation/runs', { failed: this.failedOnly || undefined, limit: 200 });
    this.runs = runs;
    if (this.selected && !runs.some(r => r.id === this.selected!.run.id)) {
      this.selected = null;
    }
  }

  protected isEmpty(): boolean {
    return this.runs.length === 0;
  }

  protected render(): void {
    const failed = this.runs.filter(r => !r.success).length;
    this.setStatus(this.runs.length ? `${this.runs.length} run${this.runs.length === 1 ? '' : 's'}, ${failed} failed` : 'No runs recorded.');
    const list = table<IValidationRunSummary>(
      'Validation runs, newest first',
      [
        { title: 'Run', cell: r => `#${r.id}` },
        { title: 'Suite', cell: r => el('span', { title: `version ${r.suiteVersion}` }, r.suiteName, el('span', { class: 'jp-changelab-live-muted' }, ` v${r.suiteVersion.slice(0, 8)}`)) },
        { title: 'Target', cell: r => el('span', { title: r.targetKind }, r.target) },
        { title: 'When', cell: r => time(r.createdAt) },
        { title: 'Result', cell: r => badge(r.success) },
        { title: 'Met', cell: r => `${r.successful}/${r.evaluated}`, className: 'jp-mod-number' },
        { title: 'Rows', cell: r => r.rowCount, className: 'jp-mod-number' }
      ],
      this.runs,
      {
        className: 'jp-changelab-validation-runs',
        rowLabel: r => `Run ${r.id}, suite ${r.suiteName}, target ${r.target}, ${r.success ? 'passed' : 'failed'}, ${r.successful} of ${r.evaluated} expectations met`,
        rowClass: r => (r.success ? undefined : 'jp-mod-failed'),
        onSelect: r => void this.select(r.id)
      }
    );
    this.contentNode.replaceChildren(list, this.detailNode);
    if (this.selected) {
      list.querySelectorAll('tbody tr')[this.runs.findIndex(r => r.id === this.selected!.run.id)]?.setAttribute('aria-selected', 'true');
      this.renderDetail();
    } else {
      this.detailNode.replaceChildren();
    }
  }

  /** Loads and shows one run's expectations. */
  async select(id: number): Promise<void> {
    try {
      this.selected = await this.service.get<IValidationRunDetail>(`api/validation/runs/${id}`);
      this.renderDetail();
    } catch (error) {
      this.setStatus(`Could not load run ${id}: ${(error as Error).message}`, true);
    }
  }

  private renderDetail(): void {
    const d = this.selected;
    if (!d) {
      return;
    }
    const r = d.run;
    const failures = d.expectations.filter(e => !e.success);
    const quarantine = new Map(d.quarantine.map(q => [q.key, q]));
    const heading = el('h3', { class: 'jp-changelab-live-heading' }, `Run #${r.id}: ${r.suiteName} on ${r.target}`);
    const summary = facts([
      ['Outcome', badge(r.success)],
      ['Suite version', r.suiteVersion],
      ['Target', `${r.target} (${r.targetKind}, ${r.rowCount} rows)`],
      ['Snapshot', time(r.snapshotAt)],
      ['Expectations', `${d.statistics.successful_expectations} of ${d.statistics.evaluated_expectations} met${d.statistics.success_percent === null ? '' : ` (${valueText(d.statistics.success_percent)}%)`}`],
      ['Origin', `${r.origin}${r.seconds === null ? '' : `, ${valueText(r.seconds)} s`}`]
    ]);
    const items = failures.map(e => this.renderFailure(e, quarantine));
    const passed = d.expectations.filter(e => e.success);
    const passedList = passed.length
      ? el(
          'details',
          { class: 'jp-changelab-validation-passed' },
          el('summary', {}, `${passed.length} expectation${passed.length === 1 ? '' : 's'} met`),
          el('ul', {}, ...passed.map(e => el('li', {}, el('code', {}, e.type), e.columns ? ` (${e.columns})` : '')))
        )
      : null;
    this.detailNode.replaceChildren(
      heading,
      summary,
      el('h4', { class: 'jp-changelab-live-subheading' }, failures.length ? `Failed expectations (${failures.length})` : 'Every expectation was met'),
      el('ul', { class: 'jp-changelab-validation-failures' }, ...items),
      passedList ?? ''
    );
  }

  /** Loads the target table's rows holding an expectation's offending values into `slot`. */
  async showRows(runId: number, e: IExpectationView, slot: HTMLElement): Promise<void> {
    try {
      const found = await this.service.get<{ table: string; columns: string[]; rows: Record<string, string | null>[]; truncated: boolean }>(
        `api/validation/runs/${runId}/expectations/${e.position}/rows`,
        { limit: 50 }
      );
      slot.replaceChildren(
        table<Record<string, string | null>>(
          `Rows of ${found.table} holding the offending values of ${e.type}`,
          found.columns.map(c => ({ title: c, cell: r => el('code', {}, r[c] ?? 'null') })),
          found.rows,
          { className: 'jp-changelab-validation-table-rows' }
        ),
        el('p', { class: 'jp-changelab-live-muted' }, `${found.rows.length}${found.truncated ? '+' : ''} row${found.rows.length === 1 ? '' : 's'} of ${found.table} hold these values now`)
      );
    } catch (error) {
      slot.replaceChildren(el('p', { class: 'jp-changelab-live-status jp-mod-error' }, `Could not look the rows up: ${(error as Error).message}`));
    }
  }

  private renderFailure(e: IExpectationView, quarantine: Map<string, IQuarantineLink>): HTMLElement {
    const li = el('li', { class: 'jp-changelab-validation-failure' });
    li.append(el('div', { class: 'jp-changelab-validation-failure-title' }, el('code', {}, e.type), e.columns ? ` on ${e.columns}` : ''));
    const counts: string[] = [];
    if (e.unexpectedCount !== null) {
      counts.push(`${e.unexpectedCount} unexpected${e.elementCount !== null ? ` of ${e.elementCount}` : ''}${e.unexpectedPercent !== null ? ` (${valueText(e.unexpectedPercent)}%)` : ''}`);
    }
    if (e.missingCount) {
      counts.push(`${e.missingCount} missing`);
    }
    if (e.observedValue !== null && e.observedValue !== undefined) {
      counts.push(`observed ${valueText(e.observedValue)}`);
    }
    if (e.exception) {
      counts.push(`error: ${e.exception}`);
    }
    const kwargs = Object.entries(e.kwargs).filter(([k]) => k !== 'column' && k !== 'column_list' && k !== 'result_format');
    if (kwargs.length) {
      counts.push(`expected ${kwargs.map(([k, v]) => `${k}=${valueText(v)}`).join(', ')}`);
    }
    li.append(el('p', { class: 'jp-changelab-live-muted' }, counts.join('; ')));
    // The offending rows: their index in the data checked and the value found, as GE reported them.
    if (e.partialUnexpectedList.length || e.partialUnexpectedIndexList.length) {
      const rows = e.partialUnexpectedList.length ? e.partialUnexpectedList.map((v, i) => ({ value: v, index: e.partialUnexpectedIndexList[i] })) : e.partialUnexpectedIndexList.map(index => ({ value: null, index }));
      li.append(
        table<{ value: unknown; index: number | undefined }>(
          `Offending values of ${e.type}${e.columns ? ` on ${e.columns}` : ''}`,
          [
            // Row indexes exist for rows checked in memory; a table's rows are looked up by value below.
            ...(e.partialUnexpectedIndexList.length ? [{ title: 'Row', cell: (x: { index: number | undefined }) => (x.index === undefined ? '—' : x.index), className: 'jp-mod-number' }] : []),
            { title: e.columns ?? 'Value', cell: (x: { value: unknown }) => el('code', {}, valueText(x.value)) }
          ],
          rows,
          { className: 'jp-changelab-validation-offending' }
        )
      );
      const shown = rows.length;
      if (e.unexpectedCount !== null && e.unexpectedCount > shown) {
        li.append(el('p', { class: 'jp-changelab-live-muted' }, `first ${shown} of ${e.unexpectedCount} shown`));
      }
    }
    // A table run: the rows that hold those values in the table now, with their ids, on request.
    if (this.selected?.run.targetKind === 'table' && e.partialUnexpectedList.length && e.columns && !e.columns.includes(',')) {
      const runId = this.selected.run.id;
      const slot = el('div', { class: 'jp-changelab-validation-rows' });
      slot.append(
        button('Show rows', () => void this.showRows(runId, e, slot), {
          label: `Show the rows of ${this.selected.run.target} with the offending values of ${e.type} on ${e.columns}`,
          className: 'jp-mod-link'
        })
      );
      li.append(slot);
    }
    if (e.quarantinedKeys.length) {
      const files = el('ul', { class: 'jp-changelab-validation-files', 'aria-label': 'Quarantined files' });
      for (const key of e.quarantinedKeys) {
        const q = quarantine.get(key);
        const item = el('li', {}, el('code', { class: 'jp-changelab-validation-file' }, key));
        if (q) {
          item.append(el('span', { class: 'jp-changelab-live-muted' }, ` quarantine entry #${q.id}${q.resolved ? ' (resolved)' : ''}: ${q.reason}`));
        }
        if (this.showQuarantine) {
          const show = this.showQuarantine;
          item.append(' ', button('Show in quarantine', () => show(key), { label: `Show ${key} in the Map previews quarantine list`, className: 'jp-mod-link' }));
        }
        files.append(item);
      }
      li.append(el('p', {}, `Files quarantined by this expectation (${e.quarantinedKeys.length}):`), files);
    }
    return li;
  }
}

/** Shows a quarantined file in the Map previews panel's quarantine list (opened, scrolled to it). */
export function quarantineOpener(app: JupyterFrontEnd, maps: MapPreviewsPanel): (key: string) => void {
  return key => {
    app.shell.activateById(maps.id);
    // After the panel has been shown (it builds its quarantine list then).
    void new Promise(resolve => requestAnimationFrame(resolve))
      .then(() => maps.refreshQuarantine())
      .then(() => {
        const box = maps.node.querySelector<HTMLDetailsElement>('.jp-changelab-map-quarantine');
        if (!box) {
          return;
        }
        box.open = true;
        const item = [...box.querySelectorAll('li')].find(li => li.querySelector('.jp-changelab-map-quarantine-key')?.textContent === key);
        item?.scrollIntoView({ block: 'nearest' });
      });
  };
}
