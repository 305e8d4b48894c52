// The "Dataset versions" side panel: the versions of each dataset (DVC-format commits of chips
// and labels built from image pairs), fed by the catalog service.
import { datasetsIcon } from './icons';
import { ChangelabPanel } from './panel';

export class DatasetVersionsPanel extends ChangelabPanel {
  static readonly id = 'changelab-datasets-panel';

  constructor() {
    super({
      id: DatasetVersionsPanel.id,
      className: 'jp-changelab-datasets-panel',
      label: 'Dataset versions',
      explanation:
        'Versions of your datasets: each commit of chips and labels, when it was made and from which image pairs.',
      emptyMessage:
        'No dataset versions yet. Build and commit a dataset from a notebook to see it here.',
      icon: datasetsIcon
    });
  }
}
