// The "Map previews" side panel: the catalog's footprints on the changelab map, live from the
// changelab service, with the time slider, image details, rasters drawn from the COGs, the swipe
// between two dates, the change maps (inference runs) over the view to add as layers, and the files
// in quarantine listed apart in the warning colour.
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import { mapsIcon } from './icons';
import { MapWidget } from './map/widget';
import { CatalogService } from './map/service';
import { ChangelabPanel } from './panel';

export class MapPreviewsPanel extends ChangelabPanel {
  static readonly id = 'changelab-maps-panel';
  /** The map; created when the panel is first shown, so Leaflet measures a real size. */
  map: MapWidget | null = null;

  constructor(options: { serviceUrl?: string } = {}) {
    super({
      id: MapPreviewsPanel.id,
      className: 'jp-changelab-maps-panel',
      label: 'Map previews',
      explanation:
        'Footprints of the catalog’s images for the view and date; select one for its details and to draw it, then fade layers or swipe between two dates.',
      emptyMessage:
        'Nothing to preview yet. Ingest images or run inference on a pair to see them here.',
      icon: mapsIcon
    });
    this._serviceUrl = options.serviceUrl;
  }

  protected override onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.map) {
      return;
    }
    this.body.node.querySelector('.jp-changelab-panel-empty')?.remove();
    this.map = new MapWidget({
      mode: 'panel',
      spec: { layers: [], footprints: true, timeSlider: true, inferenceRuns: true, serviceUrl: this._serviceUrl }
    });
    this.addWidget(this.map);
    this._quarantine = document.createElement('details');
    this._quarantine.className = 'jp-changelab-map-quarantine';
    this._quarantine.hidden = true;
    this.addWidget(new Widget({ node: this._quarantine }));
    void this.refreshQuarantine();
  }

  /** Lists the files that could not be indexed (they have no footprint to draw). */
  async refreshQuarantine(): Promise<void> {
    const box = this._quarantine;
    if (!box) {
      return;
    }
    try {
      const entries = await new CatalogService(this._serviceUrl).quarantine();
      const summary = document.createElement('summary');
      summary.textContent = `${entries.length} file${entries.length === 1 ? '' : 's'} in quarantine`;
      const list = document.createElement('ul');
      for (const e of entries) {
        const li = document.createElement('li');
        const key = document.createElement('span');
        key.className = 'jp-changelab-map-quarantine-key';
        key.textContent = e.key;
        const reason = document.createElement('span');
        reason.className = 'jp-changelab-map-quarantine-reason';
        reason.textContent = e.reason;
        li.append(key, reason);
        list.append(li);
      }
      box.replaceChildren(summary, list);
      box.hidden = entries.length === 0;
    } catch {
      box.hidden = true; // the map's status line already says the service is unreachable
    }
  }

  private _serviceUrl: string | undefined;
  private _quarantine: HTMLDetailsElement | null = null;
}
