// The renderer of `application/vnd.changelab.map+json` outputs (from `map(layers, options)` in a
// notebook): the payload's title, then the same map widget as the Map previews panel. It ranks
// ahead of the generic card renderer; a payload it cannot read is explained, never thrown.
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';
import { renderInvalidCard } from '../render/card';
import { MimeTypes } from '../render/mimetypes';
import { parsePayload } from '../render/payload';
import { parseMapSpec } from './spec';
import { MapWidget } from './widget';

/** Below the card renderer's 40, so maps get this renderer. */
export const MAP_RENDERER_RANK = 39;

export class MapRenderer extends Panel implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass('jp-changelab-rendered');
    this.addClass('jp-changelab-map-output');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    for (const child of [...this.widgets]) {
      child.dispose();
    }
    const parsed = parsePayload(model.data[this._mimeType]);
    const spec = parsed.ok ? parseMapSpec(parsed.payload.data) : parsed;
    if (!parsed.ok || !spec.ok) {
      const text = model.data['text/plain'];
      this.addWidget(
        new Widget({
          node: renderInvalidCard(this._mimeType, spec.ok ? 'unreadable payload' : spec.error, 'map', typeof text === 'string' ? text : undefined)
        })
      );
      return Promise.resolve();
    }
    const title = document.createElement('div');
    title.className = 'jp-changelab-card-title jp-changelab-map-title';
    title.textContent = parsed.payload.title;
    this.addWidget(new Widget({ node: title }));
    this.map = new MapWidget({ spec: spec.spec, mode: 'inline' });
    this.addWidget(this.map);
    return Promise.resolve();
  }

  map: MapWidget | null = null;
  private _mimeType: string;
}

export const mapRendererFactory: IRenderMime.IRendererFactory = {
  // Payload text is set as text; the map fetches only GETs from the changelab service or the
  // layer URLs the output names.
  safe: true,
  mimeTypes: [MimeTypes.map],
  defaultRank: MAP_RENDERER_RANK,
  createRenderer: options => new MapRenderer(options)
};
