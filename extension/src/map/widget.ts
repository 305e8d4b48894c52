// The changelab map (Leaflet), used by the Map previews panel and by inline `map(...)` outputs:
// raster layers read from COGs in the browser, catalog footprints, GeoJSON overlays, a layer list
// with visibility, opacity and order, a swipe bar between two dates, and a time slider over the
// capture dates in view. No basemap tiles: nothing is downloaded from outside the workspace.
import * as L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import type { Feature, FeatureCollection } from 'geojson';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import { CogLayer, decoderPool } from './cog';
import { FootprintsLayer, insideRings, polygonsOf, themeColour } from './footprints';
import { CatalogService, type IFootprintFeature, type IInferenceRun } from './service';
import type { IMapLayerSpec, IMapSpec } from './spec';

/** One layer as the layer list shows it. */
export interface IMapLayer {
  id: string;
  name: string;
  kind: IMapLayerSpec['kind'];
  date: string | null;
  visible: boolean;
  opacity: number;
  leaflet: L.Layer;
  pane: HTMLElement;
  bounds: L.LatLngBounds | null;
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] => {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
};

const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 10) : null);


/** Feature properties for the details box: with `labels`, only those, in that order, renamed. */
function labelled(properties: Record<string, unknown>, labels?: Record<string, string>): Record<string, unknown> {
  if (!labels) {
    return properties;
  }
  return Object.fromEntries(Object.entries(labels).map(([key, label]) => [label, properties[key]]));
}

let mapCount = 0;

export namespace MapWidget {
  export interface IOptions {
    spec: IMapSpec;
    /** 'panel': fills its parent, controls under the map; 'inline': fixed height, for outputs. */
    mode?: 'panel' | 'inline';
  }
}

export class MapWidget extends Widget {
  /** Emitted when layers, the time or the swipe change, and after each raster render. */
  readonly changed = new Signal<this, void>(this);
  readonly service: CatalogService;
  readonly layers: IMapLayer[] = [];
  map: L.Map | null = null;
  footprints: FootprintsLayer | null = null;
  /** The dates the time slider offers (YYYY-MM-DD), oldest first. */
  dates: string[] = [];
  /** The time slider's date; null for all dates. */
  date: string | null = null;
  swipe: { enabled: boolean; left: string | null; right: string | null; position: number } = {
    enabled: false,
    left: null,
    right: null,
    position: 0.5
  };

  private _spec: IMapSpec;
  private _mapNode: HTMLDivElement;
  private _layerList: HTMLUListElement;
  private _details: HTMLElement;
  private _status: HTMLElement;
  private _timeInput: HTMLInputElement;
  private _timeOutput: HTMLOutputElement;
  private _timeBox: HTMLElement;
  private _swipeBox: HTMLElement;
  private _swipeToggle: HTMLInputElement;
  private _swipeLeft: HTMLSelectElement;
  private _swipeRight: HTMLSelectElement;
  private _swipeBar: HTMLDivElement;
  private _fitAll: HTMLButtonElement;
  private _fetch: AbortController | null = null;
  private _fetchTimer = 0;
  private _serviceDates: string[] = [];
  private _uid = ++mapCount;
  private _fitted = false;
  private _runsBox: HTMLDetailsElement | null = null;
  private _runsList: HTMLUListElement | null = null;
  private _runsFetch: AbortController | null = null;
  private readonly _polygonFetches = new Map<string, AbortController>();
  private _runsTimer = 0;
  /** Inference runs over the view (when the spec asks for them), newest first. */
  runs: IInferenceRun[] = [];
  /** Polygon layers of runs shown, refetched for the view after each move: layer id -> run id. */
  private _runPolygons = new Map<string, string>();

  constructor(options: MapWidget.IOptions) {
    super();
    this._spec = options.spec;
    this.service = new CatalogService(options.spec.serviceUrl, options.spec.project);
    this.addClass('jp-changelab-map');
    this.addClass(options.mode === 'panel' ? 'jp-mod-panel' : 'jp-mod-inline');

    const controls = el('div', 'jp-changelab-map-controls');
    // Time slider
    this._timeBox = el('div', 'jp-changelab-map-time');
    const timeLabel = el('label', undefined, 'Date');
    const timeId = `jp-changelab-map-time-${this._uid}`;
    timeLabel.htmlFor = timeId;
    this._timeInput = el('input');
    this._timeInput.type = 'range';
    this._timeInput.id = timeId;
    this._timeInput.min = '0';
    this._timeInput.max = '0';
    this._timeInput.step = '1';
    this._timeInput.value = '0';
    this._timeInput.setAttribute('aria-label', 'Capture date shown');
    this._timeOutput = el('output', 'jp-changelab-map-time-value', 'all dates');
    this._timeOutput.htmlFor.add(timeId);
    this._timeInput.addEventListener('input', () => {
      const i = Number(this._timeInput.value);
      this.setDate(i === 0 ? null : this.dates[i - 1] ?? null);
    });
    this._timeBox.append(timeLabel, this._timeInput, this._timeOutput);

    // Swipe controls
    this._swipeBox = el('div', 'jp-changelab-map-swipe-controls');
    const swipeLabel = el('label');
    this._swipeToggle = el('input');
    this._swipeToggle.type = 'checkbox';
    this._swipeToggle.addEventListener('change', () => this.setSwipe({ enabled: this._swipeToggle.checked }));
    swipeLabel.append(this._swipeToggle, document.createTextNode(' Swipe'));
    this._swipeLeft = el('select');
    this._swipeLeft.setAttribute('aria-label', 'Layer left of the swipe bar (earlier)');
    this._swipeRight = el('select');
    this._swipeRight.setAttribute('aria-label', 'Layer right of the swipe bar (later)');
    this._swipeLeft.addEventListener('change', () => this.setSwipe({ left: this._swipeLeft.value }));
    this._swipeRight.addEventListener('change', () => this.setSwipe({ right: this._swipeRight.value }));
    this._swipeBox.append(swipeLabel, this._swipeLeft, el('span', undefined, '|'), this._swipeRight);
    const fitAll = el('button', 'jp-changelab-map-fit', 'All images');
    fitAll.title = 'Zoom to every image of the catalog';
    fitAll.setAttribute('aria-label', 'Zoom to every image of the catalog');
    fitAll.addEventListener('click', () => this.zoomToCatalog());
    this._fitAll = fitAll;
    fitAll.hidden = !this._spec.footprints;
    controls.append(this._timeBox, this._swipeBox, fitAll);

    const body = el('div', 'jp-changelab-map-body');
    const mapBox = el('div', 'jp-changelab-map-viewport');
    this._mapNode = el('div', 'jp-changelab-map-leaflet');
    this._mapNode.setAttribute('role', 'application');
    this._mapNode.setAttribute('aria-label', 'Map; arrow keys pan, plus and minus zoom, Enter selects the images or shapes under the centre mark');
    this._mapNode.addEventListener('keydown', event => {
      if (event.key === 'Enter' && event.target === this._mapNode) {
        event.preventDefault();
        this.selectAtCentre();
      }
    });
    this._swipeBar = el('div', 'jp-changelab-map-swipe');
    this._swipeBar.tabIndex = 0;
    this._swipeBar.setAttribute('role', 'slider');
    this._swipeBar.setAttribute('aria-label', 'Swipe position: earlier image left, later image right');
    this._swipeBar.setAttribute('aria-valuemin', '0');
    this._swipeBar.setAttribute('aria-valuemax', '100');
    this._swipeBar.setAttribute('aria-orientation', 'horizontal');
    this._swipeBar.append(el('span', 'jp-changelab-map-swipe-label jp-mod-left'), el('span', 'jp-changelab-map-swipe-handle'), el('span', 'jp-changelab-map-swipe-label jp-mod-right'));
    this._swipeBar.hidden = true;
    mapBox.append(this._mapNode, this._swipeBar);
    if (options.mode !== 'panel') {
      mapBox.style.height = `${this._spec.height ?? 420}px`;
    }

    const side = el('div', 'jp-changelab-map-side');
    const layersHeading = el('h3', 'jp-changelab-map-heading', 'Layers');
    const listId = `jp-changelab-map-layers-${this._uid}`;
    layersHeading.id = listId;
    this._layerList = el('ul', 'jp-changelab-map-layers');
    this._layerList.setAttribute('aria-labelledby', listId);
    this._details = el('section', 'jp-changelab-map-details');
    this._details.setAttribute('aria-label', 'Selected feature');
    this._details.setAttribute('aria-live', 'polite');
    side.append(layersHeading, this._layerList);
    if (this._spec.inferenceRuns) {
      // Change maps over the view: each can be added as layers (probability map and polygons).
      const box = el('details', 'jp-changelab-map-runs');
      box.open = true;
      const summary = el('summary', undefined, 'Change maps in view');
      const list = el('ul', 'jp-changelab-map-runs-list');
      list.setAttribute('aria-label', 'Change maps (inference runs) over the visible area');
      box.append(summary, list);
      this._runsBox = box;
      this._runsList = list;
      side.append(box);
    }
    side.append(this._details);
    body.append(mapBox, side);

    this._status = el('div', 'jp-changelab-map-status');
    this._status.setAttribute('role', 'status');
    this.node.append(controls, body, this._status);
    this._wireSwipeBar();
    (this.node as HTMLElement & { changelabMap?: MapWidget }).changelabMap = this;
    decoderPool();
  }

  /** Creates the Leaflet map once the widget is in the DOM with a size. */
  protected override onAfterAttach(): void {
    if (this.map) {
      this.map.invalidateSize();
      return;
    }
    const map = L.map(this._mapNode, {
      // No basemap: tiles would be fetched from the internet. The background is the theme's.
      attributionControl: false,
      zoomAnimation: false,
      fadeAnimation: false,
      markerZoomAnimation: false,
      zoomSnap: 0.25,
      worldCopyJump: false,
      maxZoom: 24,
      keyboard: true
    });
    this.map = map;
    map.setView([36.5, 127.8], 7);
    map.on('move zoom resize', () => this._applySwipe());
    map.on('moveend', () => {
      this._scheduleFetch();
      this._scheduleRuns();
      this._refreshRunPolygons();
    });
    for (const spec of this._spec.layers) {
      this.addLayer(spec, { fit: false });
    }
    if (this._spec.footprints) {
      this._addFootprints();
      this._fitAll.hidden = false;
    }
    this._fitInitial();
    const swipe = this._spec.swipe;
    if (swipe) {
      this.setSwipe(typeof swipe === 'object' ? { enabled: true, left: swipe.left, right: swipe.right, position: swipe.position } : { enabled: true });
    }
    this._refreshControls();
    this._scheduleFetch(0);
    this._scheduleRuns(0);
  }

  protected override onResize(): void {
    this.map?.invalidateSize();
  }

  protected override onAfterShow(): void {
    this.map?.invalidateSize();
  }

  override dispose(): void {
    this._fetch?.abort();
    this._runsFetch?.abort();
    window.clearTimeout(this._runsTimer);
    this.map?.remove();
    this.map = null;
    super.dispose();
  }

  private _fitInitial(): void {
    const map = this.map!;
    if (this._spec.bounds) {
      map.fitBounds(this._spec.bounds);
      this._fitted = true;
      return;
    }
    const bounds = this.layers.map(l => l.bounds).filter((b): b is L.LatLngBounds => !!b);
    if (bounds.length) {
      const all = L.latLngBounds(bounds[0].getSouthWest(), bounds[0].getNorthEast());
      bounds.forEach(b => all.extend(b));
      map.fitBounds(all, { padding: [8, 8] });
      this._fitted = true;
    }
  }

  private _pane(id: string): HTMLElement {
    const name = `changelab-${this._uid}-${id}`;
    return this.map!.getPane(name) ?? this.map!.createPane(name);
  }

  private _uniqueId(wanted: string | undefined): string {
    let id = (wanted ?? `layer-${this.layers.length + 1}`).replace(/[^\w-]/g, '_');
    while (this.layers.some(l => l.id === id)) {
      id += '_';
    }
    return id;
  }

  /** Adds a layer on top of the others. */
  addLayer(spec: IMapLayerSpec, options: { fit?: boolean } = {}): IMapLayer {
    const map = this.map;
    if (!map) {
      this._spec.layers.push(spec);
      throw new Error('the map is not shown yet; the layer is added when it is');
    }
    const id = this._uniqueId(spec.id);
    const pane = this._pane(id);
    const paneName = `changelab-${this._uid}-${id}`;
    let leaflet: L.Layer;
    let bounds: L.LatLngBounds | null = spec.bounds ? L.latLngBounds(spec.bounds) : null;
    if (spec.kind === 'cog') {
      const layer = new CogLayer({
        pane: paneName,
        url: spec.url ?? this.service.dataUrl(spec.imageId!),
        crs: spec.crs ?? { epsg: null },
        transform: spec.transform,
        bands: spec.bands,
        stretch: spec.stretch,
        nodata: spec.nodata
      });
      layer.onRender = () => {
        this._renderLayerState(id);
        this.changed.emit();
      };
      leaflet = layer;
      pane.classList.add('jp-changelab-map-raster-pane');
    } else if (spec.kind === 'geojson') {
      const style = spec.style ?? {};
      const colour = style.color ?? themeColour(this.node, '--jp-accent-color1', '#e65100');
      const geo = L.geoJSON(spec.data as FeatureCollection, {
        pane: paneName,
        style: () => ({
          color: colour,
          weight: style.weight ?? 2,
          fillColor: style.fillColor ?? colour,
          fillOpacity: style.fillOpacity ?? 0.2,
          dashArray: style.dashArray
        }),
        pointToLayer: (_f, latlng) => L.circleMarker(latlng, { radius: 5, pane: paneName }),
        onEachFeature: (feature: Feature, layer) => {
          layer.on('click', event => {
            // This feature's details, not those of the footprints under it.
            L.DomEvent.stopPropagation(event as L.LeafletMouseEvent);
            this.showDetails(spec.name, labelled((feature.properties ?? {}) as Record<string, unknown>, spec.labels));
          });
        }
      });
      leaflet = geo;
      bounds ??= geo.getBounds().isValid() ? geo.getBounds() : null;
    } else {
      return this._addFootprints(spec);
    }
    const layer: IMapLayer = {
      id,
      name: spec.name,
      kind: spec.kind,
      date: day(spec.date),
      visible: spec.visible ?? true,
      opacity: spec.opacity ?? 1,
      leaflet,
      pane,
      bounds
    };
    this.layers.unshift(layer);
    this._applyLayer(layer);
    this._restack();
    if (options.fit !== false && bounds) {
      map.fitBounds(bounds, { padding: [8, 8] });
    }
    this._refreshControls();
    return layer;
  }

  private _addFootprints(spec?: IMapLayerSpec): IMapLayer {
    const existing = this.layers.find(l => l.kind === 'footprints');
    if (existing) {
      return existing;
    }
    const id = this._uniqueId(spec?.id ?? 'footprints');
    const pane = this._pane(id);
    const footprints = new FootprintsLayer({
      pane: `changelab-${this._uid}-${id}`,
      onSelect: features => this.selectFootprints(features)
    });
    footprints.on('footprintsupdate', () => this._statusLine());
    this.footprints = footprints;
    const layer: IMapLayer = {
      id,
      name: spec?.name ?? 'Catalog footprints',
      kind: 'footprints',
      date: null,
      visible: spec?.visible ?? true,
      opacity: spec?.opacity ?? 1,
      leaflet: footprints,
      pane,
      bounds: null
    };
    // Footprints go on top, where clicks reach them.
    this.layers.unshift(layer);
    this._applyLayer(layer);
    this._restack();
    this._refreshControls();
    return layer;
  }

  removeLayer(id: string): void {
    const i = this.layers.findIndex(l => l.id === id);
    if (i < 0) {
      return;
    }
    const [layer] = this.layers.splice(i, 1);
    layer.leaflet.remove();
    if (layer.kind === 'footprints') {
      this.footprints = null;
    }
    this._refreshControls();
  }

  layer(id: string): IMapLayer | undefined {
    return this.layers.find(l => l.id === id);
  }

  setOpacity(id: string, opacity: number): void {
    const layer = this.layer(id);
    if (layer) {
      layer.opacity = Math.max(0, Math.min(1, opacity));
      this._applyLayer(layer);
      this._renderLayerState(id);
      this.changed.emit();
    }
  }

  setVisible(id: string, visible: boolean): void {
    const layer = this.layer(id);
    if (layer) {
      layer.visible = visible;
      this._applyLayer(layer);
      this._renderLayerState(id);
      this.changed.emit();
      if (visible && this._runPolygons.has(id)) {
        this._refreshRunPolygons(); // hidden layers are not refetched on moves
      }
    }
  }

  /** Moves a layer up (towards the top of the drawing order) or down. */
  move(id: string, by: number): void {
    const i = this.layers.findIndex(l => l.id === id);
    const j = i - by;
    if (i < 0 || j < 0 || j >= this.layers.length) {
      return;
    }
    const [layer] = this.layers.splice(i, 1);
    this.layers.splice(j, 0, layer);
    this._restack();
    this._refreshLayerList();
    this._layerList.querySelector<HTMLButtonElement>(`li[data-layer-id="${id}"] button[data-move="${by > 0 ? 'up' : 'down'}"]`)?.focus();
    this.changed.emit();
  }

  /** Filters footprints to one capture day and shows the dated raster layer of that day. */
  setDate(date: string | null): void {
    this.date = date;
    this.footprints?.setDate(date);
    const dated = this.layers.filter(l => l.kind !== 'footprints' && l.date);
    if (date && !this.swipe.enabled && dated.some(l => l.date === date)) {
      for (const l of dated) {
        l.visible = l.date === date;
        this._applyLayer(l);
      }
      this._refreshLayerList();
    }
    const index = date ? this.dates.indexOf(date) + 1 : 0;
    this._timeInput.value = String(Math.max(0, index));
    this._timeOutput.textContent = date ?? 'all dates';
    this._timeInput.setAttribute('aria-valuetext', date ?? 'all dates');
    this._statusLine();
    this.changed.emit();
  }

  /** Turns the swipe on or off, picks its layers (earlier left) and moves the bar (0-1 across). */
  setSwipe(change: { enabled?: boolean; left?: string | null; right?: string | null; position?: number }): void {
    const s = this.swipe;
    Object.assign(s, Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)));
    s.position = Math.max(0, Math.min(1, s.position));
    const candidates = this.layers.filter(l => l.kind !== 'footprints');
    if (s.enabled && (!this.layer(s.left ?? '') || !this.layer(s.right ?? '') || s.left === s.right)) {
      // Earlier date left, later right; undated layers after dated ones.
      const sorted = [...candidates].sort((a, b) => (a.date ?? '9999').localeCompare(b.date ?? '9999'));
      if (sorted.length >= 2) {
        s.left = this.layer(s.left ?? '') ? s.left : sorted[0].id;
        s.right = this.layer(s.right ?? '') && s.right !== s.left ? s.right : sorted.find(l => l.id !== s.left)!.id;
      } else {
        s.enabled = false;
      }
    }
    if (s.enabled) {
      for (const id of [s.left, s.right]) {
        const l = this.layer(id!)!;
        l.visible = true;
        this._applyLayer(l);
      }
    }
    this._applySwipe();
    this._refreshControls();
    this.changed.emit();
  }

  /** Shows the details of the images under a click (and offers to draw each). */
  selectFootprints(features: IFootprintFeature[]): void {
    this.footprints?.select(features[0]?.properties.id ?? null);
    const heading = el('h3', 'jp-changelab-map-heading', features.length === 1 ? features[0].properties.key : `${features.length} images here`);
    const entries = features.map(feature => {
      const p = feature.properties;
      const entry = el('article', 'jp-changelab-map-image');
      entry.dataset.imageId = String(p.id);
      entry.append(
        el('h4', 'jp-changelab-map-image-key', p.key),
        this._propertyList({
          image: p.id,
          captured: p.captureTime,
          'GSD (m)': p.gsd,
          CRS: p.epsg ? `EPSG:${p.epsg}` : null,
          size: `${p.width} × ${p.height}`,
          bands: `${p.bands} × ${p.dataType}`,
          COG: p.isCog ? `yes, ${p.overviews} overview${p.overviews === 1 ? '' : 's'}` : 'no',
          ...(p.quarantined ? { quarantined: true } : {})
        })
      );
      if (!p.quarantined) {
        const button = el('button', 'jp-Button jp-mod-styled jp-changelab-map-show', 'Show image on the map');
        button.setAttribute('aria-label', `Show ${p.key} on the map`);
        button.addEventListener('click', () => {
          void this.showImage(p.id).catch(error => this._statusLine(`cannot show image ${p.id}: ${(error as Error).message}`));
        });
        entry.append(button);
      }
      return entry;
    });
    this._details.replaceChildren(heading, ...entries);
  }

  /** Adds a catalog image as a raster layer (read through the service). */
  async showImage(id: number): Promise<IMapLayer> {
    const existing = this.layers.find(l => l.id === `image-${id}`);
    if (existing) {
      this.setVisible(existing.id, true);
      return existing;
    }
    const image = await this.service.image(id);
    const coords = image.footprint ? L.geoJSON(image.footprint).getBounds() : null;
    return this.addLayer(
      {
        id: `image-${id}`,
        name: `${image.key.split('/').pop()}${image.captureTime ? ` (${day(image.captureTime)})` : ''}`,
        kind: 'cog',
        imageId: id,
        crs: image.crs,
        transform: image.transform,
        nodata: image.nodata,
        date: image.captureTime,
        bounds: coords?.isValid() ? [[coords.getSouth(), coords.getWest()], [coords.getNorth(), coords.getEast()]] : undefined
      },
      { fit: false }
    );
  }

  private _scheduleRuns(delay = 300): void {
    if (!this._runsList) {
      return;
    }
    window.clearTimeout(this._runsTimer);
    this._runsTimer = window.setTimeout(() => void this._fetchRuns(), delay);
  }

  /** Lists the inference runs whose scene meets the view. */
  private async _fetchRuns(): Promise<void> {
    const list = this._runsList;
    if (!this.map || !list || !this._runsBox) {
      return;
    }
    this._runsFetch?.abort();
    const abort = new AbortController();
    this._runsFetch = abort;
    try {
      this.runs = await this.service.inferenceRuns({ bbox: this.viewBBox(), limit: 50 }, abort.signal);
    } catch (error) {
      if ((error as Error).name !== 'AbortError') {
        list.replaceChildren(el('li', 'jp-changelab-map-runs-error', `cannot list change maps: ${(error as Error).message}`));
      }
      return;
    }
    this._runsBox.querySelector('summary')!.textContent = `Change maps in view (${this.runs.length})`;
    list.replaceChildren(
      ...this.runs.map(run => {
        const li = el('li', 'jp-changelab-map-run');
        li.dataset.runId = run.id;
        const dates = `${day(run.before.captureTime) ?? run.before.key.split('/').pop()} → ${day(run.after.captureTime) ?? run.after.key.split('/').pop()}`;
        const text = el('span', 'jp-changelab-map-run-label', `${run.model.name} ${run.model.version}: ${dates}, ${run.polygonCount ?? 0} polygon${run.polygonCount === 1 ? '' : 's'}`);
        text.title = `run ${run.id}, before ${run.before.key}, after ${run.after.key}`;
        const button = el('button', 'jp-Button jp-mod-styled jp-changelab-map-run-show', 'Show');
        button.setAttribute('aria-label', `Show change map of ${run.model.name} ${run.model.version}, ${dates}, on the map`);
        button.addEventListener('click', () => {
          void this.showInferenceRun(run).catch(error => this._statusLine(`cannot show change map ${run.id}: ${(error as Error).message}`));
        });
        li.append(text, button);
        return li;
      })
    );
    if (!this.runs.length) {
      list.replaceChildren(el('li', 'jp-changelab-map-runs-empty', 'No change maps over this area.'));
    }
    this.node.dataset.runsLoaded = String(Number(this.node.dataset.runsLoaded ?? 0) + 1);
    this.changed.emit();
  }

  /**
   * Adds a change map as layers over the before/after swipe: the pair's images (when they are in
   * the catalog), the change-probability COG and the change polygons of the view (clickable).
   */
  async showInferenceRun(run: IInferenceRun): Promise<{ probability: IMapLayer | null; polygons: IMapLayer }> {
    const map = this.map;
    if (!map) {
      throw new Error('the map is not shown yet');
    }
    const key = run.id.replace(/[^\w-]/g, '_');
    const label = `${run.model.name} ${run.model.version}`;
    if (run.bounds) {
      map.fitBounds(run.bounds, { padding: [8, 8], animate: false });
    }
    const pair: string[] = [];
    for (const id of [run.before.imageId, run.after.imageId]) {
      if (id !== null) {
        pair.push((await this.showImage(id)).id);
      }
    }
    let probability: IMapLayer | null = this.layer(`run-${key}-probability`) ?? null;
    const raster = run.rasters.probability;
    if (!probability && raster) {
      probability = this.addLayer(
        {
          id: `run-${key}-probability`,
          name: `Change probability · ${label}`,
          kind: 'cog',
          url: this.service.urlOf(raster.data),
          crs: { epsg: run.epsg },
          bands: [0],
          stretch: 'none',
          opacity: 0.6,
          bounds: run.bounds ?? undefined
        },
        { fit: false }
      );
    } else if (probability) {
      this.setVisible(probability.id, true);
    }
    let polygons = this.layer(`run-${key}-polygons`);
    if (!polygons) {
      const data = await this.service.runPolygons(run.id, { bbox: this.viewBBox() });
      polygons = this.addLayer(
        {
          id: `run-${key}-polygons`,
          name: `Change polygons · ${label}`,
          kind: 'geojson',
          data,
          style: { color: themeColour(this.node, '--jp-error-color1', '#d32f2f'), weight: 2, fillOpacity: 0.25 },
          labels: { areaM2: 'area (m²)', meanProbability: 'mean probability', pixels: 'pixels', runId: 'run', model: 'model', modelVersion: 'model version' }
        },
        { fit: false }
      );
      this._runPolygons.set(polygons.id, run.id);
    } else {
      this.setVisible(polygons.id, true);
    }
    if (pair.length === 2) {
      this.setSwipe({ enabled: true, left: pair[0], right: pair[1] });
    }
    this.changed.emit();
    return { probability, polygons };
  }

  /**
   * Refetches the polygons of the visible runs' layers for the new view; a newer view's request
   * cancels the older one, so a slow answer never replaces a newer view's polygons.
   */
  private _refreshRunPolygons(): void {
    for (const [layerId, runId] of this._runPolygons) {
      const layer = this.layer(layerId);
      if (!layer) {
        this._runPolygons.delete(layerId);
        this._polygonFetches.get(layerId)?.abort();
        this._polygonFetches.delete(layerId);
        continue;
      }
      this._polygonFetches.get(layerId)?.abort();
      if (!layer.visible) {
        continue;
      }
      const abort = new AbortController();
      this._polygonFetches.set(layerId, abort);
      void this.service
        .runPolygons(runId, { bbox: this.viewBBox() }, abort.signal)
        .then(data => {
          const geo = layer.leaflet as L.GeoJSON;
          geo.clearLayers();
          geo.addData(data);
          if (data.truncated) {
            this._statusLine(`${layer.name}: the largest ${data.features.length} polygons shown; zoom in for the others`);
          }
          this.changed.emit();
        })
        .catch(error => {
          if ((error as Error).name !== 'AbortError') {
            this._statusLine(`cannot load change polygons: ${(error as Error).message}`);
          }
        });
    }
  }

  /**
   * Keyboard selection: what lies under the centre of the view (marked while the map has focus):
   * the topmost visible vector shape there, else the catalog footprints there. Returns what was
   * selected, and says so in the status line when nothing is there.
   */
  selectAtCentre(): 'shape' | 'footprints' | null {
    const map = this.map;
    if (!map) {
      return null;
    }
    const centre = map.getCenter();
    for (const layer of this.layers) {
      if (!layer.visible || !(layer.leaflet instanceof L.GeoJSON)) {
        continue;
      }
      for (const shape of layer.leaflet.getLayers() as (L.Layer & { feature?: Feature })[]) {
        if (polygonsOf(shape.feature?.geometry).some(rings => insideRings(rings, centre.lng, centre.lat))) {
          shape.fire('click', { latlng: centre, originalEvent: new MouseEvent('click') });
          return 'shape';
        }
      }
    }
    const hits = this.footprints && this.layer('footprints')?.visible ? this.footprints.hitsAt(centre) : [];
    if (hits.length) {
      this.selectFootprints(hits);
      return 'footprints';
    }
    this._statusLine('nothing under the centre of the map');
    return null;
  }

  showDetails(title: string, properties: Record<string, unknown>): void {
    this._details.replaceChildren(el('h3', 'jp-changelab-map-heading', title), this._propertyList(properties));
  }

  private _propertyList(properties: Record<string, unknown>): HTMLElement {
    const list = el('dl', 'jp-changelab-map-properties');
    for (const [k, v] of Object.entries(properties)) {
      if (v === undefined) {
        continue;
      }
      list.append(el('dt', undefined, k), el('dd', undefined, v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v)));
    }
    return list;
  }

  /** Sets the time slider's dates from the service and the dated layers. */
  private _updateDates(): void {
    const all = new Set<string>(this._serviceDates);
    for (const l of this.layers) {
      if (l.date) {
        all.add(l.date);
      }
    }
    this.dates = [...all].sort();
    this._timeInput.max = String(this.dates.length);
    if (this.date && !this.dates.includes(this.date)) {
      this.date = null;
      this.footprints?.setDate(null);
    }
    this._timeInput.value = String(this.date ? this.dates.indexOf(this.date) + 1 : 0);
    this._timeInput.setAttribute('aria-valuetext', this.date ?? 'all dates');
    this._timeOutput.textContent = this.date ?? 'all dates';
    const show = this._spec.timeSlider ?? this.dates.length > 0;
    this._timeBox.hidden = !show;
    this._timeInput.disabled = this.dates.length === 0;
  }

  /** Fetches the footprints of the whole catalog and fits the view to them. */
  zoomToCatalog(): void {
    this._fitted = false;
    this._scheduleFetch(0);
  }

  /** The view as [west, south, east, north] degrees, clamped to the valid ranges (the footprint query). */
  viewBBox(): number[] {
    const b = this.map!.getBounds();
    return [Math.max(-180, b.getWest()), Math.max(-90, b.getSouth()), Math.min(180, b.getEast()), Math.min(90, b.getNorth())];
  }

  private _scheduleFetch(delay = 250): void {
    if (!this.footprints) {
      return;
    }
    window.clearTimeout(this._fetchTimer);
    this._fetchTimer = window.setTimeout(() => void this._fetchFootprints(), delay);
  }

  /** Footprints and dates for the view (the whole catalog before the first fit). */
  private async _fetchFootprints(): Promise<void> {
    const map = this.map;
    if (!map || !this.footprints) {
      return;
    }
    this._fetch?.abort();
    const abort = new AbortController();
    this._fetch = abort;
    const bbox = this._fitted ? this.viewBBox() : undefined;
    try {
      const [collection, dates] = await Promise.all([
        this.service.footprints({ bbox, limit: 10_000 }, abort.signal),
        this.service.dates({ bbox }, abort.signal)
      ]);
      this.footprints.setData(collection.features);
      this._serviceDates = dates.map(d => d.date);
      this._updateDates();
      if (!this._fitted) {
        this._fitted = true;
        const extent = this.footprints.extent();
        if (extent) {
          map.fitBounds(extent, { padding: [8, 8] });
        }
      }
      this._statusLine(collection.truncated ? 'more images match than are drawn; zoom in' : undefined);
      this.node.dataset.footprintsLoaded = String(Number(this.node.dataset.footprintsLoaded ?? 0) + 1);
      this.changed.emit();
    } catch (error) {
      if ((error as Error).name !== 'AbortError') {
        this._statusLine(`catalog service: ${(error as Error).message}`);
      }
    }
  }

  private _statusLine(note?: string): void {
    const parts: string[] = [];
    if (this.footprints) {
      parts.push(`${this.footprints.visibleCount} footprint${this.footprints.visibleCount === 1 ? '' : 's'} in view${this.date ? ` on ${this.date}` : ''}${this.footprints.mode === 'clusters' ? ' (clustered)' : ''}`);
    }
    if (note) {
      parts.push(note);
    }
    this._status.textContent = parts.join(' · ');
  }

  private _applyLayer(layer: IMapLayer): void {
    const map = this.map;
    if (!map) {
      return;
    }
    layer.pane.style.opacity = String(layer.opacity);
    if (layer.leaflet instanceof CogLayer) {
      // Rasters stay on the map with their pane hidden: showing one again is instant.
      layer.pane.style.display = layer.visible ? '' : 'none';
      layer.leaflet.setActive(layer.visible);
      if (layer.visible && !map.hasLayer(layer.leaflet)) {
        layer.leaflet.addTo(map);
      }
    } else if (layer.visible && !map.hasLayer(layer.leaflet)) {
      layer.leaflet.addTo(map);
    } else if (!layer.visible && map.hasLayer(layer.leaflet)) {
      layer.leaflet.remove();
    }
  }

  /** Pane z-order follows the list: the first layer is drawn on top (all below markers and popups). */
  private _restack(): void {
    const n = this.layers.length;
    this.layers.forEach((l, i) => {
      l.pane.style.zIndex = String(410 + (n - i));
    });
  }

  /** Clips the two swiped layers to their sides of the bar. */
  private _applySwipe(): void {
    const map = this.map;
    for (const l of this.layers) {
      l.pane.style.clip = '';
    }
    const s = this.swipe;
    this._swipeBar.hidden = !s.enabled;
    if (!map || !s.enabled || !s.left || !s.right) {
      return;
    }
    const size = map.getSize();
    const nw = map.containerPointToLayerPoint([0, 0]);
    const se = map.containerPointToLayerPoint([size.x, size.y]);
    const x = nw.x + size.x * s.position;
    this.layer(s.left)!.pane.style.clip = `rect(${nw.y}px, ${x}px, ${se.y}px, ${nw.x}px)`;
    this.layer(s.right)!.pane.style.clip = `rect(${nw.y}px, ${se.x}px, ${se.y}px, ${x}px)`;
    this._swipeBar.style.left = `${s.position * 100}%`;
    const percent = Math.round(s.position * 100);
    this._swipeBar.setAttribute('aria-valuenow', String(percent));
    const left = this.layer(s.left)!;
    const right = this.layer(s.right)!;
    this._swipeBar.setAttribute('aria-valuetext', `${percent}%: ${left.name} left, ${right.name} right`);
    this._swipeBar.querySelector('.jp-mod-left')!.textContent = left.date ?? left.name;
    this._swipeBar.querySelector('.jp-mod-right')!.textContent = right.date ?? right.name;
  }

  private _wireSwipeBar(): void {
    const bar = this._swipeBar;
    L.DomEvent.disableClickPropagation(bar);
    L.DomEvent.disableScrollPropagation(bar);
    const moveTo = (clientX: number) => {
      const rect = this._mapNode.getBoundingClientRect();
      this.setSwipe({ position: (clientX - rect.left) / rect.width });
    };
    bar.addEventListener('pointerdown', event => {
      event.preventDefault();
      event.stopPropagation();
      bar.setPointerCapture(event.pointerId);
      bar.focus();
      const move = (e: PointerEvent) => moveTo(e.clientX);
      const up = () => {
        bar.removeEventListener('pointermove', move);
        bar.removeEventListener('pointerup', up);
        bar.removeEventListener('pointercancel', up);
      };
      bar.addEventListener('pointermove', move);
      bar.addEventListener('pointerup', up);
      bar.addEventListener('pointercancel', up);
    });
    bar.addEventListener('keydown', event => {
      const stepBy = event.shiftKey ? 0.1 : 0.02;
      const moves: Record<string, number> = {
        ArrowLeft: this.swipe.position - stepBy,
        ArrowDown: this.swipe.position - stepBy,
        ArrowRight: this.swipe.position + stepBy,
        ArrowUp: this.swipe.position + stepBy,
        PageDown: this.swipe.position - 0.1,
        PageUp: this.swipe.position + 0.1,
        Home: 0,
        End: 1
      };
      if (event.key in moves) {
        event.preventDefault();
        event.stopPropagation();
        this.setSwipe({ position: moves[event.key] });
      }
    });
  }

  private _refreshControls(): void {
    this._refreshLayerList();
    this._updateDates();
    const candidates = this.layers.filter(l => l.kind !== 'footprints');
    this._swipeBox.hidden = candidates.length < 2;
    this._swipeToggle.checked = this.swipe.enabled;
    for (const [select, value] of [
      [this._swipeLeft, this.swipe.left],
      [this._swipeRight, this.swipe.right]
    ] as const) {
      select.replaceChildren(
        ...candidates.map(l => {
          const option = el('option', undefined, l.name);
          option.value = l.id;
          option.selected = l.id === value;
          return option;
        })
      );
      select.disabled = !this.swipe.enabled;
    }
  }

  private _refreshLayerList(): void {
    const items = this.layers.map((layer, i) => {
      const li = el('li', 'jp-changelab-map-layer');
      li.dataset.layerId = layer.id;
      const visible = el('input');
      visible.type = 'checkbox';
      visible.checked = layer.visible;
      visible.setAttribute('aria-label', `Show ${layer.name}`);
      visible.addEventListener('change', () => this.setVisible(layer.id, visible.checked));
      const name = el('span', 'jp-changelab-map-layer-name', layer.name);
      name.title = layer.date ? `${layer.name}, captured ${layer.date}` : layer.name;
      const opacity = el('input', 'jp-changelab-map-opacity');
      opacity.type = 'range';
      opacity.min = '0';
      opacity.max = '100';
      opacity.value = String(Math.round(layer.opacity * 100));
      opacity.setAttribute('aria-label', `Opacity of ${layer.name}`);
      opacity.setAttribute('aria-valuetext', `${Math.round(layer.opacity * 100)}%`);
      opacity.addEventListener('input', () => this.setOpacity(layer.id, Number(opacity.value) / 100));
      const up = el('button', 'jp-changelab-map-move', '▲');
      up.dataset.move = 'up';
      up.setAttribute('aria-label', `Move ${layer.name} up`);
      up.disabled = i === 0;
      up.addEventListener('click', () => this.move(layer.id, 1));
      const down = el('button', 'jp-changelab-map-move', '▼');
      down.dataset.move = 'down';
      down.setAttribute('aria-label', `Move ${layer.name} down`);
      down.disabled = i === this.layers.length - 1;
      down.addEventListener('click', () => this.move(layer.id, -1));
      const state = el('span', 'jp-changelab-map-layer-state');
      state.setAttribute('aria-live', 'polite');
      li.append(visible, name, up, down, opacity, state);
      return li;
    });
    this._layerList.replaceChildren(...items);
    this.layers.forEach(l => this._renderLayerState(l.id));
  }

  private _renderLayerState(id: string): void {
    const layer = this.layer(id);
    const li = this._layerList.querySelector<HTMLElement>(`li[data-layer-id="${id}"]`);
    if (!layer || !li) {
      return;
    }
    const opacity = li.querySelector<HTMLInputElement>('.jp-changelab-map-opacity')!;
    opacity.setAttribute('aria-valuetext', `${Math.round(layer.opacity * 100)}%`);
    const state = li.querySelector('.jp-changelab-map-layer-state')!;
    if (layer.leaflet instanceof CogLayer) {
      const cog = layer.leaflet;
      li.classList.toggle('jp-mod-error', !!cog.error);
      state.textContent = cog.error ? cog.error : '';
      li.dataset.renders = String(cog.info.renders);
    }
  }
}
