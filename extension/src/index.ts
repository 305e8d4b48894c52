// Plugins of the changelab JupyterLab extension. This module only wires: the panels live in
// their own modules, the MIME renderer in `mime.ts` (package.json's `jupyterlab.mimeExtension`).
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import type { Token } from '@lumino/coreutils';
import { addOpenPanelCommand, CommandIDs } from './commands';
import { DatasetVersionsPanel } from './datasets';
import { MapPreviewsPanel } from './maps';
import { ChangelabPanel } from './panel';
import {
  IDatasetVersionsPanel,
  IMapPreviewsPanel,
  IValidationResultsPanel
} from './tokens';
import { quarantineOpener, ValidationResultsPanel } from './validation';
import { ITrainingRunsPanel, OPEN_RUNS_COMMAND, TrainingRunsPanel } from './runs';

/** Left-area ranks: after JupyterLab's file browser (100), running sessions (200), TOC (400). */
const Rank = {
  datasets: 600,
  validation: 610,
  maps: 620,
  runs: 630
} as const;

/**
 * A plugin that puts one panel in the left area, restores it with the layout and adds its open
 * command. Each panel is its own plugin so that later plugins can require it by token.
 */
function panelPlugin<T extends ChangelabPanel>(
  name: string,
  description: string,
  token: Token<T>,
  create: () => T,
  rank: number,
  command: string
): JupyterFrontEndPlugin<T> {
  return {
    id: `@changelab/jupyterlab:${name}`,
    description,
    autoStart: true,
    provides: token,
    optional: [ILayoutRestorer, ICommandPalette],
    activate: (
      app: JupyterFrontEnd,
      restorer: ILayoutRestorer | null,
      palette: ICommandPalette | null
    ) => {
      const panel = create();
      app.shell.add(panel, 'left', { rank });
      restorer?.add(panel, panel.id);
      addOpenPanelCommand(app, command, panel, palette);
      return panel;
    }
  };
}

const datasetsPanel = panelPlugin(
  'datasets-panel',
  'The Dataset versions side panel.',
  IDatasetVersionsPanel,
  () => new DatasetVersionsPanel(),
  Rank.datasets,
  CommandIDs.openDatasets
);

const validationPanel = panelPlugin(
  'validation-panel',
  'The Validation results side panel.',
  IValidationResultsPanel,
  () => new ValidationResultsPanel(),
  Rank.validation,
  CommandIDs.openValidation
);

const mapsPanel = panelPlugin(
  'maps-panel',
  'The Map previews side panel.',
  IMapPreviewsPanel,
  () => new MapPreviewsPanel(),
  Rank.maps,
  CommandIDs.openMaps
);

const runsPanel = panelPlugin(
  'runs-panel',
  'The Training runs side panel.',
  ITrainingRunsPanel,
  () => new TrainingRunsPanel(),
  Rank.runs,
  OPEN_RUNS_COMMAND
);

/** Lets the Validation results panel show a quarantined file in the Map previews quarantine list. */
const quarantineLink: JupyterFrontEndPlugin<void> = {
  id: '@changelab/jupyterlab:validation-quarantine-link',
  description: 'Links quarantined files in Validation results to the Map previews quarantine list.',
  autoStart: true,
  requires: [IValidationResultsPanel, IMapPreviewsPanel],
  activate: (app: JupyterFrontEnd, validation: ValidationResultsPanel, maps: MapPreviewsPanel) => {
    validation.showQuarantine = quarantineOpener(app, maps);
  }
};

export { CommandIDs } from './commands';
export { ITrainingRunsPanel } from './runs';
export * from './tokens';

const plugins: JupyterFrontEndPlugin<unknown>[] = [
  datasetsPanel,
  validationPanel,
  mapsPanel,
  runsPanel,
  quarantineLink
];

export default plugins;
