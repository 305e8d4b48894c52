// The "Validation results" side panel: outcomes of expectation suites run on datasets, tables
// and ingested images (Great Expectations 1.x results), fed by the catalog service.
import { validationIcon } from './icons';
import { ChangelabPanel } from './panel';

export class ValidationResultsPanel extends ChangelabPanel {
  static readonly id = 'changelab-validation-panel';

  constructor() {
    super({
      id: ValidationResultsPanel.id,
      className: 'jp-changelab-validation-panel',
      label: 'Validation results',
      explanation:
        'Results of expectation suites run on datasets, tables and ingested images, with the failing expectations.',
      emptyMessage:
        'No validation results yet. Run validate() on a dataset or a table to see the outcome here.',
      icon: validationIcon
    });
  }
}
