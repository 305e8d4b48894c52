// Commands that open the changelab side panels, and the helper that registers them with the
// command registry and, when present, the command palette.
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { ICommandPalette } from '@jupyterlab/apputils';
import type { Widget } from '@lumino/widgets';

export namespace CommandIDs {
  export const openDatasets = 'changelab:open-datasets-panel';
  export const openValidation = 'changelab:open-validation-panel';
  export const openMaps = 'changelab:open-maps-panel';
}

/** The palette category that groups every changelab command. */
export const PALETTE_CATEGORY = 'changelab';

/**
 * Register `command` to reveal and focus `panel` in the shell, and list it in the palette.
 */
export function addOpenPanelCommand(
  app: JupyterFrontEnd,
  command: string,
  panel: Widget,
  palette: ICommandPalette | null
): void {
  app.commands.addCommand(command, {
    label: `Show ${panel.title.caption}`,
    icon: args => (args.isPalette ? undefined : panel.title.icon),
    execute: () => {
      app.shell.activateById(panel.id);
    }
  });
  palette?.addItem({ command, category: PALETTE_CATEGORY });
}
