// Catalog footprints on the map: all polygons drawn on one <canvas> by this module (no Leaflet
// object per footprint, so 10,000 draw in one pass), and, when more than `clusterThreshold` are in
// view, grid clusters with counts instead. Quarantined entries are drawn dashed in the warning
// colour. A date filter (the time slider) narrows what is drawn; a click selects an image.
//
// Cost: every footprint is projected once (Web Mercator pixels at zoom 0, in a Float64Array) when
// the data arrive; a redraw only scales and offsets those numbers. The canvas is a CPU-backed one
// (`willReadFrequently`): with a GPU-backed 2D canvas, Chromium records the thousands of small
// paths and rasterises them later in the GPU process, which under SwiftShader (and on weak GPUs)
// held back the next frames for seconds after each redraw while the main thread looked idle.
import * as L from 'leaflet';
import type { IFootprintFeature } from './service';

export interface IFootprintsOptions {
  pane: string;
  /** Above this many footprints in view, draw clusters. Default 2000. */
  clusterThreshold?: number;
  /** Cluster cell size in screen pixels. Default 72. */
  clusterCell?: number;
  /** Every footprint under a click (overlapping images of one place are all offered). */
  onSelect?: (features: IFootprintFeature[]) => void;
}

interface IPathStyle {
  /** Same key, same style: footprints are drawn in one path per key. */
  key: string;
  color: string;
  weight: number;
  fillColor: string;
  fillOpacity: number;
  dash: number[] | null;
}

interface IIndexed {
  feature: IFootprintFeature;
  bounds: L.LatLngBounds;
  date: string | null;
  /** Web Mercator pixel bounds at zoom 0: min x, min y, max x, max y (y grows southwards). */
  box: [number, number, number, number];
  /** Centre, projected likewise. */
  cx: number;
  cy: number;
  /** Projected positions of all rings, x0, y0, x1, y1, ...: a view of one array shared by the set. */
  xy: Float64Array;
  /** Where each ring starts and ends in `xy` (in numbers, pairs of start, end); empty for a point. */
  rings: number[];
  point: boolean;
}

/** The map's projection (the widget's maps use Leaflet's default, Web Mercator). */
const CRS = L.CRS.EPSG3857;

/** Leaflet's EPSG:3857 latLngToPoint at zoom 0 (256 pixels around): the y of a latitude. */
const MAX_LAT = 85.0511287798;
function mercatorY(lat: number): number {
  const sin = Math.sin((Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180);
  return 256 * (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI));
}

/** The polygons of a GeoJSON geometry (none for points and others). */
export function polygonsOf(g: { type: string; coordinates?: unknown } | null | undefined): number[][][][] {
  return g?.type === 'Polygon' ? [g.coordinates as number[][][]] : g?.type === 'MultiPolygon' ? (g.coordinates as number[][][][]) : [];
}

/**
 * Projects a footprint once, for all later redraws and clusterings (one pass over its positions),
 * into `xy` from `offset` (one array for the whole set: no typed array per ring to allocate).
 */
function indexFeature(feature: IFootprintFeature, xy: Float64Array, offset: number): IIndexed | null {
  const g = feature.geometry;
  if (!g) {
    return null;
  }
  const polygons = polygonsOf(g);
  const rings: number[] = [];
  let at = offset;
  let west = Infinity;
  let south = Infinity;
  let east = -Infinity;
  let north = -Infinity;
  for (const polygon of polygons) {
    for (const ring of polygon) {
      rings.push(at, at + ring.length * 2);
      for (let k = 0; k < ring.length; k++, at += 2) {
        const lon = ring[k][0];
        const lat = ring[k][1];
        west = lon < west ? lon : west;
        east = lon > east ? lon : east;
        south = lat < south ? lat : south;
        north = lat > north ? lat : north;
        xy[at] = 256 * (0.5 + lon / 360);
        xy[at + 1] = mercatorY(lat);
      }
    }
  }
  if (!polygons.length) {
    // Points and other geometries: their bounds by a scan.
    const b = geometryBounds(g);
    if (!b) {
      return null;
    }
    [west, south, east, north] = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
  }
  if (!Number.isFinite(west) || !Number.isFinite(south)) {
    return null;
  }
  const bounds = L.latLngBounds([south, west], [north, east]);
  const x0 = 256 * (0.5 + west / 360);
  const x1 = 256 * (0.5 + east / 360);
  const y0 = mercatorY(north);
  const y1 = mercatorY(south);
  return {
    feature,
    bounds,
    date: feature.properties.captureTime?.slice(0, 10) ?? null,
    box: [x0, y0, x1, y1],
    cx: (x0 + x1) / 2,
    cy: mercatorY((south + north) / 2),
    xy,
    rings,
    point: g.type === 'Point'
  };
}

/** From zoom-0 projected pixels to a map's container pixels: x * scale - ox, y * scale - oy. */
interface IScreen {
  scale: number;
  ox: number;
  oy: number;
}

function screenOf(map: L.Map): IScreen {
  const scale = CRS.scale(map.getZoom()) / CRS.scale(0);
  // container = projected(zoom) - pixel origin + map pane position
  const c = map.layerPointToContainerPoint([0, 0]);
  const origin = map.getPixelOrigin();
  return { scale, ox: origin.x - c.x, oy: origin.y - c.y };
}

/** A theme colour from JupyterLab's CSS variables (canvas drawing cannot read them itself). */
export function themeColour(node: HTMLElement, variable: string, fallback: string): string {
  const value = getComputedStyle(node).getPropertyValue(variable).trim();
  return value || fallback;
}

export class FootprintsLayer extends L.LayerGroup {
  /** Footprints drawn after the latest update (as polygons or inside clusters). */
  visibleCount = 0;
  /** 'polygons' or 'clusters', after the latest update. */
  mode: 'polygons' | 'clusters' = 'polygons';

  private _items: IIndexed[] = [];
  private _date: string | null = null;
  private _polygons: FootprintCanvas;
  private _selected: number | null = null;
  private _opts: IFootprintsOptions;

  constructor(options: IFootprintsOptions) {
    super([], { pane: options.pane });
    this._opts = options;
    this._polygons = new FootprintCanvas({ pane: options.pane }, feature => this._style(feature));
  }

  override onAdd(map: L.Map): this {
    super.onAdd(map);
    map.on('moveend', this._update, this);
    map.on('click', this._onClick, this);
    this._rebuild();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off('moveend', this._update, this);
    map.off('click', this._onClick, this);
    return super.onRemove(map);
  }

  /** Replaces the footprints. */
  setData(features: IFootprintFeature[]): void {
    this._items = [];
    let positions = 0;
    for (const feature of features) {
      for (const polygon of polygonsOf(feature.geometry)) {
        for (const ring of polygon) {
          positions += ring.length;
        }
      }
    }
    const xy = new Float64Array(positions * 2);
    let offset = 0;
    for (const feature of features) {
      const item = indexFeature(feature, xy, offset);
      if (item) {
        this._items.push(item);
        offset = item.rings.length ? item.rings[item.rings.length - 1] : offset;
      }
    }
    this._rebuild();
  }

  get features(): IFootprintFeature[] {
    return this._items.map(i => i.feature);
  }

  /** Only footprints captured on this UTC day (YYYY-MM-DD); null for all. */
  setDate(date: string | null): void {
    this._date = date;
    this._rebuild();
  }

  /** The extent of all footprints, or null when there are none. */
  extent(): L.LatLngBounds | null {
    if (!this._items.length) {
      return null;
    }
    const b = L.latLngBounds(this._items[0].bounds.getSouthWest(), this._items[0].bounds.getNorthEast());
    for (const i of this._items) {
      b.extend(i.bounds);
    }
    return b;
  }

  /** Resolves once the latest polygon redraw is on the canvas (drawing is sliced over tasks). */
  whenDrawn(): Promise<void> {
    return this._polygons.whenDrawn();
  }

  select(id: number | null): void {
    this._selected = id;
    this._polygons.redraw();
  }

  private _filtered(): IIndexed[] {
    return this._date ? this._items.filter(i => i.date === this._date) : this._items;
  }

  private _palette: { normal: string; quarantined: string; selected: string } | null = null;

  /** Theme colours, read once per draw (getComputedStyle per footprint would dominate). */
  private _colours(): { normal: string; quarantined: string; selected: string } {
    if (!this._palette) {
      const node = this._map?.getContainer() ?? document.body;
      this._palette = {
        normal: themeColour(node, '--jp-brand-color1', '#1976d2'),
        quarantined: themeColour(node, '--jp-warn-color0', '#f57c00'),
        selected: themeColour(node, '--jp-accent-color1', '#e65100')
      };
      // Themes change at run time: read again on the next draw.
      requestAnimationFrame(() => (this._palette = null));
    }
    return this._palette;
  }

  private _style(feature: IFootprintFeature): IPathStyle {
    const colours = this._colours();
    const quarantined = feature.properties.quarantined;
    const colour = quarantined ? colours.quarantined : colours.normal;
    const selected = feature.properties.id === this._selected;
    return {
      key: `${quarantined ? 'q' : 'n'}${selected ? 's' : ''}`,
      color: selected ? colours.selected : colour,
      weight: selected ? 3 : 1.5,
      fillColor: colour,
      fillOpacity: selected ? 0.25 : 0.08,
      dash: quarantined ? [4, 4] : null
    };
  }

  /** Data or filter changed: decide polygons or clusters for the view. */
  private _rebuild(): void {
    if (!this._map) {
      return;
    }
    this._update();
  }

  private _clusters: L.LayerGroup | null = null;

  /** The footprints containing a clicked point (points: within 6 screen pixels). */
  hitsAt(latlng: L.LatLng): IFootprintFeature[] {
    const map = this._map;
    if (!map) {
      return [];
    }
    const at = map.latLngToContainerPoint(latlng);
    return this._filtered()
      .filter(item => {
        const g = item.feature.geometry!;
        if (g.type === 'Point') {
          return map.latLngToContainerPoint([g.coordinates[1], g.coordinates[0]]).distanceTo(at) <= 6;
        }
        if (!item.bounds.contains(latlng)) {
          return false;
        }
        return polygonsOf(g).some(rings => insideRings(rings, latlng.lng, latlng.lat));
      })
      .map(item => item.feature);
  }

  private _onClick(event: L.LeafletMouseEvent): void {
    if (this.mode !== 'polygons') {
      return;
    }
    const hits = this.hitsAt(event.latlng);
    if (hits.length) {
      this._opts.onSelect?.(hits);
    }
  }

  /** After a move: polygons when few are in view, clusters when many. */
  private _update(): void {
    const map = this._map;
    if (!map) {
      return;
    }
    const { scale, ox, oy } = screenOf(map);
    const size = map.getSize();
    const filtered = this._filtered();
    // In view: the projected box overlaps the container (numbers only, no Leaflet objects).
    const inView = filtered.filter(({ box }) => box[2] * scale - ox >= 0 && box[0] * scale - ox <= size.x && box[3] * scale - oy >= 0 && box[1] * scale - oy <= size.y);
    this.visibleCount = inView.length;
    const threshold = this._opts.clusterThreshold ?? 2000;
    if (this._clusters) {
      this.removeLayer(this._clusters);
      this._clusters = null;
    }
    if (inView.length <= threshold) {
      this.mode = 'polygons';
      this._polygons.setItems(filtered);
      if (!this.hasLayer(this._polygons)) {
        this.addLayer(this._polygons);
      }
    } else {
      this.mode = 'clusters';
      this._polygons.setItems([]);
      this._clusters = this._cluster(map, inView);
      this.addLayer(this._clusters);
    }
    this.fire('footprintsupdate', { count: this.visibleCount, mode: this.mode });
  }

  private _cluster(map: L.Map, items: IIndexed[]): L.LayerGroup {
    const cell = this._opts.clusterCell ?? 72;
    const cells = new Map<string, { n: number; bounds: L.LatLngBounds; x: number; y: number; quarantined: number }>();
    const { scale, ox, oy } = screenOf(map);
    for (const item of items) {
      const p = { x: item.cx * scale - ox, y: item.cy * scale - oy };
      const key = `${Math.floor(p.x / cell)},${Math.floor(p.y / cell)}`;
      const c = cells.get(key);
      if (c) {
        c.n++;
        c.bounds.extend(item.bounds);
        c.x += p.x;
        c.y += p.y;
        c.quarantined += item.feature.properties.quarantined ? 1 : 0;
      } else {
        cells.set(key, {
          n: 1,
          bounds: L.latLngBounds(item.bounds.getSouthWest(), item.bounds.getNorthEast()),
          x: p.x,
          y: p.y,
          quarantined: item.feature.properties.quarantined ? 1 : 0
        });
      }
    }
    const group = L.layerGroup();
    for (const c of cells.values()) {
      const at = map.containerPointToLatLng([c.x / c.n, c.y / c.n]);
      const size = Math.round(24 + Math.min(24, Math.log10(c.n) * 8));
      const marker = L.marker(at, {
        pane: this._opts.pane,
        keyboard: true,
        title: `${c.n} images here; activate to zoom in`,
        icon: L.divIcon({
          className: `jp-changelab-map-cluster${c.quarantined ? ' jp-mod-quarantined' : ''}`,
          html: `<span>${c.n >= 1000 ? `${Math.round(c.n / 100) / 10}k` : c.n}</span>`,
          iconSize: [size, size]
        })
      });
      marker.on('click', () => map.fitBounds(c.bounds, { padding: [20, 20] }));
      group.addLayer(marker);
    }
    return group;
  }
}

/** Even-odd ray test of a point against a polygon's rings (outer and holes) of [lon, lat] positions. */
export function insideRings(rings: number[][][], x: number, y: number): boolean {
  let inside = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) {
        inside = !inside;
      }
    }
  }
  return inside;
}

/** Bounds of a GeoJSON geometry by scanning its positions (no layer objects). */
function geometryBounds(geometry: IFootprintFeature['geometry']): L.LatLngBounds | null {
  let west = Infinity;
  let south = Infinity;
  let east = -Infinity;
  let north = -Infinity;
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number') {
      west = Math.min(west, c[0]);
      east = Math.max(east, c[0]);
      south = Math.min(south, c[1] as number);
      north = Math.max(north, c[1] as number);
    } else if (Array.isArray(c)) {
      c.forEach(visit);
    }
  };
  visit((geometry as { coordinates?: unknown })?.coordinates);
  return Number.isFinite(west) && Number.isFinite(south) ? L.latLngBounds([south, west], [north, east]) : null;
}

/**
 * All footprint polygons on one canvas, redrawn when the view settles; the canvas covers the
 * view plus half a view on each side, so panning shows them until the redraw.
 *
 * A redraw paints into a hidden back canvas in slices of `SLICE` footprints, one task each (a
 * small set at once, in the call), and
 * copies the finished picture onto the visible canvas in one step: the main thread is never held
 * for the whole set (rasterising 10,000 small paths takes hundreds of milliseconds on a loaded
 * CPU), and the old picture stays in place, moving with the map, until the new one is complete.
 */
const SLICE = 500;

interface IDrawJob {
  id: number;
  /** Style runs in drawing order (selected last, on top). */
  runs: { style: IPathStyle; items: IIndexed[] }[];
  run: number;
  next: number;
  scale: number;
  ox: number;
  oy: number;
  width: number;
  height: number;
  ratio: number;
  topLeft: L.Point;
  zoom: number;
}

class FootprintCanvas extends L.Layer {
  private _canvas: HTMLCanvasElement | null = null;
  private _context: CanvasRenderingContext2D | null = null;
  private _back: HTMLCanvasElement | null = null;
  private _backContext: CanvasRenderingContext2D | null = null;
  private _items: IIndexed[] = [];
  private _job: IDrawJob | null = null;
  private _jobs = 0;
  private _timer = 0;
  private _shownZoom: number | null = null;
  private _waiters: (() => void)[] = [];

  constructor(
    options: L.LayerOptions,
    private readonly _styleOf: (feature: IFootprintFeature) => IPathStyle
  ) {
    super(options);
    // L.Layer has no initialize that takes options: set them, or the pane would be the default.
    L.Util.setOptions(this, options);
  }

  setItems(items: IIndexed[]): void {
    this._items = items;
    this.redraw();
  }

  override onAdd(map: L.Map): this {
    this._canvas = L.DomUtil.create('canvas', 'jp-changelab-map-footprints leaflet-zoom-hide');
    // CPU-backed canvases: the paths rasterise in our own slices, instead of stalling the GPU
    // process (and so the following frames) afterwards; see the note at the top.
    this._context = this._canvas.getContext('2d', { willReadFrequently: true });
    this._back = document.createElement('canvas');
    this._backContext = this._back.getContext('2d', { willReadFrequently: true });
    this.getPane()!.appendChild(this._canvas);
    // The footprints layer calls setItems after each move; a resize or reset needs a redraw too.
    map.on('resize viewreset', this.redraw, this);
    this.redraw();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off('resize viewreset', this.redraw, this);
    window.clearTimeout(this._timer);
    this._job = null;
    this._canvas?.remove();
    this._canvas = null;
    this._context = null;
    this._back = null;
    this._backContext = null;
    this._settle();
    return this;
  }

  /** The canvas (for tests and pixel checks). */
  get canvas(): HTMLCanvasElement | null {
    return this._canvas;
  }

  /** Resolves once the latest redraw is on the canvas. */
  whenDrawn(): Promise<void> {
    return this._job ? new Promise(resolve => this._waiters.push(resolve)) : Promise.resolve();
  }

  /** Starts a redraw for the current view: painted now when it fits one slice, else slice by slice in later tasks. */
  redraw(): void {
    const map = this._map;
    const back = this._back;
    const context = this._backContext;
    if (!map || !back || !context || !this._canvas) {
      return;
    }
    window.clearTimeout(this._timer);
    const size = map.getSize();
    const pad = 0.5;
    const topLeft = map.containerPointToLayerPoint([-size.x * pad, -size.y * pad]);
    const width = Math.round(size.x * (1 + 2 * pad));
    const height = Math.round(size.y * (1 + 2 * pad));
    const ratio = window.devicePixelRatio || 1;
    // Canvas pixel = zoom-0 projected pixel * scale - (ox, oy); the canvas starts pad views up-left.
    const screen = screenOf(map);
    const scale = screen.scale;
    const ox = screen.ox - size.x * pad;
    const oy = screen.oy - size.y * pad;
    // Group by style so the context changes state a few times, not once per footprint.
    const groups = new Map<string, { style: IPathStyle; items: IIndexed[] }>();
    for (const item of this._items) {
      const b = item.box;
      if (b[2] * scale - ox < 0 || b[0] * scale - ox > width || b[3] * scale - oy < 0 || b[1] * scale - oy > height) {
        continue;
      }
      const style = this._styleOf(item.feature);
      const group = groups.get(style.key);
      if (group) {
        group.items.push(item);
      } else {
        groups.set(style.key, { style, items: [item] });
      }
    }
    // Resizing reallocates the bitmap: only when the size changed.
    if (back.width !== Math.round(width * ratio) || back.height !== Math.round(height * ratio)) {
      back.width = Math.round(width * ratio);
      back.height = Math.round(height * ratio);
    }
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const zoom = map.getZoom();
    // A picture drawn at another zoom is at the wrong scale: hide it until the new one is ready.
    if (this._shownZoom !== null && this._shownZoom !== zoom) {
      this._canvas.style.visibility = 'hidden';
    }
    this._job = {
      id: ++this._jobs,
      runs: [...groups.values()].sort((a, b) => a.style.weight - b.style.weight),
      run: 0,
      next: 0,
      scale,
      ox,
      oy,
      width,
      height,
      ratio,
      topLeft,
      zoom
    };
    const id = this._job.id;
    const count = this._job.runs.reduce((n, r) => n + r.items.length, 0);
    if (count <= SLICE) {
      this._slice(id);
    } else {
      this._timer = window.setTimeout(() => this._slice(id), 0);
    }
  }

  /** Paints the next slice of the job; schedules the one after, or shows the picture when done. */
  private _slice(id: number): void {
    const job = this._job;
    const context = this._backContext;
    if (!job || job.id !== id || !context) {
      return;
    }
    let budget = SLICE;
    while (budget > 0 && job.run < job.runs.length) {
      const { style, items } = job.runs[job.run];
      const end = Math.min(items.length, job.next + budget);
      this._paint(context, style, items, job.next, end, job);
      budget -= end - job.next;
      job.next = end;
      if (job.next >= items.length) {
        job.run++;
        job.next = 0;
      }
    }
    if (job.run < job.runs.length) {
      // Rasterise this slice now (a 1-pixel read flushes the recorded paths), then yield.
      context.getImageData(0, 0, 1, 1);
      this._timer = window.setTimeout(() => this._slice(id), 0);
      return;
    }
    this._show(job);
  }

  private _paint(context: CanvasRenderingContext2D, style: IPathStyle, items: IIndexed[], from: number, to: number, job: IDrawJob): void {
    const { scale, ox, oy } = job;
    context.beginPath();
    for (let i = from; i < to; i++) {
      const item = items[i];
      if (item.point) {
        const x = item.cx * scale - ox;
        const y = item.cy * scale - oy;
        context.moveTo(x + 5, y);
        context.arc(x, y, 5, 0, Math.PI * 2);
        continue;
      }
      // Footprints smaller than a few pixels at this zoom are drawn as dots, so they stay findable.
      const b = item.box;
      if ((b[2] - b[0]) * scale < 6 && (b[3] - b[1]) * scale < 6) {
        const x = item.cx * scale - ox;
        const y = item.cy * scale - oy;
        context.moveTo(x + 4, y);
        context.arc(x, y, 4, 0, Math.PI * 2);
        continue;
      }
      // No closePath(): GeoJSON rings end on their first position already, and Chromium's
      // closePath() costs time in proportion to the whole path so far (10,000 rings: seconds).
      const { xy, rings } = item;
      for (let r = 0; r < rings.length; r += 2) {
        const start = rings[r];
        const end = rings[r + 1];
        context.moveTo(xy[start] * scale - ox, xy[start + 1] * scale - oy);
        for (let k = start + 2; k < end; k += 2) {
          context.lineTo(xy[k] * scale - ox, xy[k + 1] * scale - oy);
        }
      }
    }
    context.globalAlpha = style.fillOpacity;
    context.fillStyle = style.fillColor;
    context.fill('evenodd');
    context.globalAlpha = 1;
    context.strokeStyle = style.color;
    context.lineWidth = style.weight;
    context.setLineDash(style.dash ?? []);
    context.stroke();
  }

  /** Copies the finished picture onto the visible canvas, at the view it was drawn for. */
  private _show(job: IDrawJob): void {
    const canvas = this._canvas;
    const context = this._context;
    const back = this._back;
    this._job = null;
    if (canvas && context && back) {
      if (canvas.width !== back.width || canvas.height !== back.height) {
        canvas.width = back.width;
        canvas.height = back.height;
        canvas.style.width = `${job.width}px`;
        canvas.style.height = `${job.height}px`;
      }
      context.setTransform(1, 0, 0, 1, 0, 0);
      context.clearRect(0, 0, canvas.width, canvas.height);
      context.drawImage(back, 0, 0);
      L.DomUtil.setPosition(canvas, job.topLeft);
      canvas.style.visibility = '';
      this._shownZoom = job.zoom;
    }
    this._settle();
  }

  private _settle(): void {
    const waiters = this._waiters;
    this._waiters = [];
    waiters.forEach(resolve => resolve());
  }
}
