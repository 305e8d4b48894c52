// Plugins of the changelab JupyterLab extension. This module only wires: the panels live in
// their own modules, the MIME renderer in `mime.ts` (package.json's `jupyterlab.mimeExtension`).
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { addOpenPanelCommand, CommandIDs } from './commands';
import { DatasetVersionsPanel } from './datasets';
import { MapPreviewsPanel } from './maps';
import { ChangelabPanel } from './panel';
import {
  IDatasetVersionsPanel,
  IMapPreviewsPanel,
  IValidationResultsPanel
} from './tokens';
import { ValidationResultsPanel } from './validation';

/** Left-area ranks: after JupyterLab's file browser (100), running sessions (200), TOC (400). */
const Rank = {
  datasets: 600,
  validation: 610,
  maps: 620
} as const;

/** Put `panel` in the left area, restore it with the layout, and add its open command. */
function addPanel(
  app: JupyterFrontEnd,
  panel: ChangelabPanel,
  rank: number,
  command: string,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null
): void {
  app.shell.add(panel, 'left', { rank });
  restorer?.add(panel, panel.id);
  addOpenPanelCommand(app, command, panel, palette);
}

const datasetsPanel: JupyterFrontEndPlugin<DatasetVersionsPanel> = {
  id: '@changelab/jupyterlab:datasets-panel',
  description: 'The Dataset versions side panel.',
  autoStart: true,
  provides: IDatasetVersionsPanel,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new DatasetVersionsPanel();
    addPanel(
      app,
      panel,
      Rank.datasets,
      CommandIDs.openDatasets,
      restorer,
      palette
    );
    return panel;
  }
};

const validationPanel: JupyterFrontEndPlugin<ValidationResultsPanel> = {
  id: '@changelab/jupyterlab:validation-panel',
  description: 'The Validation results side panel.',
  autoStart: true,
  provides: IValidationResultsPanel,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new ValidationResultsPanel();
    addPanel(
      app,
      panel,
      Rank.validation,
      CommandIDs.openValidation,
      restorer,
      palette
    );
    return panel;
  }
};

const mapsPanel: JupyterFrontEndPlugin<MapPreviewsPanel> = {
  id: '@changelab/jupyterlab:maps-panel',
  description: 'The Map previews side panel.',
  autoStart: true,
  provides: IMapPreviewsPanel,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new MapPreviewsPanel();
    addPanel(app, panel, Rank.maps, CommandIDs.openMaps, restorer, palette);
    return panel;
  }
};

export { CommandIDs } from './commands';
export * from './tokens';

const plugins: JupyterFrontEndPlugin<unknown>[] = [
  datasetsPanel,
  validationPanel,
  mapsPanel
];

export default plugins;
