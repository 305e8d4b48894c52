// The "Map previews" side panel: footprints of images, before/after pairs and change maps on a
// map, fed by the catalog service.
import { mapsIcon } from './icons';
import { ChangelabPanel } from './panel';

export class MapPreviewsPanel extends ChangelabPanel {
  static readonly id = 'changelab-maps-panel';

  constructor() {
    super({
      id: MapPreviewsPanel.id,
      className: 'jp-changelab-maps-panel',
      label: 'Map previews',
      explanation:
        'Previews of image footprints, before/after pairs and change maps, placed on a map.',
      emptyMessage:
        'Nothing to preview yet. Ingest images or run inference on a pair to see them here.',
      icon: mapsIcon
    });
  }
}
