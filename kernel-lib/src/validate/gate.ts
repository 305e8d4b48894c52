// The quality gate at ingest: an "ingest" suite of row-level expectations judges every extracted
// image before it is inserted. A file that fails any expectation goes to quarantine with the
// expectations it failed (the rest are indexed), and the whole ingest is recorded as one
// validation run whose outcomes list the quarantined keys. Table-level checks (row counts,
// uniqueness, aggregates) belong in the "table" suite, run on image_metadata after indexing.
import type { IImageMetadata } from '../catalog/types';
import type { IQueryable } from '../db/database';
import { InvalidRasterError } from '../errors';
import { validateRows } from './engine';
import { expectationColumns, expectationDefinition } from './expectations';
import { imageRow } from './imagery';
import { buildResult, statistics, ValidationResult, type IMapObservation } from './result';
import { saveRun } from './runs';
import { ExpectationSuite, SuiteError } from './suite';
import type { IExpectationResult, IValidationResultJSON } from './types';

/** Why one image failed the gate. */
export interface IGateFailure {
  key: string;
  /** One line: the failed expectations and what was found. */
  reason: string;
  failed: { index: number; type: string; column: string | null; found: string }[];
}

/** What `check` says about one image: null when it passed. */
export type GateVerdict = IGateFailure | null;

/** The gate of an ingest: judges batches of extracted images and tallies a run over all of them. */
export class IngestGate {
  private readonly totals: IMapObservation[];
  private readonly quarantined = new Map<number, string[]>();
  private images = 0;
  private readonly started = new Date();

  constructor(readonly suite: ExpectationSuite) {
    suite.expectations.forEach((e, index) => {
      const kind = expectationDefinition(e.type)!.kind;
      if (kind !== 'column-map') {
        throw new SuiteError(
          `expectations[${index}] (${e.type}) looks at the whole table, not at one image: an ingest suite holds row-level expectations only; put it in the table suite`,
          { index, type: e.type }
        );
      }
    });
    this.totals = suite.expectations.map(() => ({ kind: 'map', element: 0, missing: 0, unexpected: 0, values: [] }));
  }

  /** Judges each image on its own; returns one verdict per image, in order. */
  check(batch: { key: string; metadata: IImageMetadata }[]): GateVerdict[] {
    if (batch.length === 0) {
      return [];
    }
    const rows = batch.map(b => imageRow(b.metadata));
    const result = validateRows(this.suite, { rows, name: 'ingest batch' }, { resultFormat: 'COMPLETE' });
    const failures: (IGateFailure | null)[] = batch.map(() => null);
    result.results.forEach((r, index) => {
      const t = this.totals[index];
      t.element += r.result.element_count ?? 0;
      t.missing += r.result.missing_count ?? 0;
      t.unexpected += r.result.unexpected_count ?? 0;
      const unexpected = r.result.unexpected_list ?? [];
      for (const v of unexpected) {
        if (t.values.length < 20) {
          t.values.push(v);
        }
      }
      (r.result.unexpected_index_list ?? []).forEach((row, j) => {
        const key = batch[row].key;
        const f = (failures[row] ??= { key, reason: '', failed: [] });
        const kwargs = r.expectation_config.kwargs;
        f.failed.push({
          index,
          type: r.expectation_config.type,
          column: expectationColumns(r.expectation_config.type, kwargs),
          found: JSON.stringify(unexpected[j] ?? null)
        });
        const keys = this.quarantined.get(index) ?? [];
        if (keys.length < 1000) {
          keys.push(key);
        }
        this.quarantined.set(index, keys);
      });
    });
    for (const f of failures) {
      if (f) {
        f.reason = `failed ${f.failed.length} expectation${f.failed.length === 1 ? '' : 's'} of suite ${this.suite.name}: ${f.failed
          .map(x => `${x.type}${x.column ? ` (${x.column})` : ''} found ${x.found}`)
          .join('; ')}`;
      }
    }
    this.images += batch.length;
    return failures;
  }

  /** The run over every image checked so far, as a GE result (mostly applies here, not per file). */
  result(target: string): ValidationResult {
    const results: IExpectationResult[] = this.suite.expectations.map((config, i) => buildResult(config, this.totals[i], 'SUMMARY'));
    const json: IValidationResultJSON = {
      success: results.every(r => r.success),
      results,
      suite_name: this.suite.name,
      suite_parameters: {},
      statistics: statistics(results),
      meta: {
        engine: 'changelab',
        suite_version: this.suite.version,
        validation_time: new Date().toISOString(),
        snapshot_at: this.started.toISOString(),
        target,
        target_kind: 'ingest-batch',
        row_count: this.images
      },
      id: null
    };
    return new ValidationResult(json);
  }

  /** Records the run (once, at the end of an ingest); returns its id, or null when nothing was checked. */
  async save(db: IQueryable, project: string, target: string, seconds?: number): Promise<number | null> {
    if (this.images === 0) {
      return null;
    }
    return saveRun(db, this.suite, this.result(target), {
      project,
      target,
      targetKind: 'ingest-batch',
      origin: 'ingest',
      seconds,
      quarantinedKeys: this.quarantined
    });
  }
}

/**
 * The gate as the indexer's judge (`IIndexerOptions.judge`): a readable, placeable image that fails the suite is refused
 * with the expectations it failed. Unreadable or unplaceable files keep the extractor's reason.
 */
export function gateJudge(gate: IngestGate): (key: string, metadata: IImageMetadata) => Error | undefined {
  return (key, metadata) => {
    const [verdict] = gate.check([{ key, metadata }]);
    return verdict
      ? new InvalidRasterError(`${key}: ${verdict.reason}`, {
          key,
          code: 'failed-expectations',
          reason: verdict.reason,
          suite: gate.suite.name,
          suiteVersion: gate.suite.version,
          failed: verdict.failed
        })
      : undefined;
  };
}
