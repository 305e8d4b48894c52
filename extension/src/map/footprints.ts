// Catalog footprints on the map: all polygons drawn on one <canvas> by this module (no Leaflet
// object per footprint, so 10,000 draw in one pass), and, when more than `clusterThreshold` are in
// view, grid clusters with counts instead. Quarantined entries are drawn dashed in the warning
// colour. A date filter (the time slider) narrows what is drawn; a click selects an image.
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
  centre: L.LatLng;
  date: string | null;
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
  /** Milliseconds the latest full redraw took (building the layers; Leaflet paints on the next frame). */
  lastDrawMs = 0;

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
    for (const feature of features) {
      if (!feature.geometry) {
        continue;
      }
      const bounds = geometryBounds(feature.geometry);
      if (!bounds) {
        continue;
      }
      this._items.push({ feature, bounds, centre: bounds.getCenter(), date: feature.properties.captureTime?.slice(0, 10) ?? null });
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
    const started = performance.now();
    this._update();
    this.lastDrawMs = performance.now() - started;
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
        const polygons = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
        return polygons.some(rings => insideRing(rings[0], latlng.lng, latlng.lat));
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
    const view = map.getBounds();
    const filtered = this._filtered();
    const inView = filtered.filter(i => view.intersects(i.bounds));
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
    for (const item of items) {
      const p = map.latLngToContainerPoint(item.centre);
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

/** Even-odd ray test of a point against a ring of [lon, lat] positions. */
function insideRing(ring: number[][], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) {
      inside = !inside;
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
 */
class FootprintCanvas extends L.Layer {
  private _canvas: HTMLCanvasElement | null = null;
  private _items: IIndexed[] = [];
  private _frame = 0;

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
    this.getPane()!.appendChild(this._canvas);
    // The footprints layer calls setItems after each move; a resize or reset needs a redraw too.
    map.on('resize viewreset', this.redraw, this);
    this._draw();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off('resize viewreset', this.redraw, this);
    cancelAnimationFrame(this._frame);
    this._canvas?.remove();
    this._canvas = null;
    return this;
  }

  /** The canvas (for tests and pixel checks). */
  get canvas(): HTMLCanvasElement | null {
    return this._canvas;
  }

  redraw(): void {
    if (this._map && this._canvas) {
      // Draw now (the caller measures it), not on a later frame.
      this._draw();
    }
  }

  private _draw(): void {
    const map = this._map;
    const canvas = this._canvas;
    if (!map || !canvas) {
      return;
    }
    const size = map.getSize();
    const pad = 0.5;
    const topLeft = map.containerPointToLayerPoint([-size.x * pad, -size.y * pad]);
    const width = Math.round(size.x * (1 + 2 * pad));
    const height = Math.round(size.y * (1 + 2 * pad));
    const ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    L.DomUtil.setPosition(canvas, topLeft);
    const context = canvas.getContext('2d')!;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const area = L.latLngBounds(
      map.containerPointToLatLng([-size.x * pad, size.y * (1 + pad)]),
      map.containerPointToLatLng([size.x * (1 + pad), -size.y * pad])
    );
    // Group by style so the context changes state a few times, not once per footprint.
    const groups = new Map<string, { style: IPathStyle; items: IIndexed[] }>();
    for (const item of this._items) {
      if (!area.intersects(item.bounds)) {
        continue;
      }
      const style = this._styleOf(item.feature);
      const key = style.key;
      const group = groups.get(key);
      if (group) {
        group.items.push(item);
      } else {
        groups.set(key, { style, items: [item] });
      }
    }
    const origin = map.getPixelOrigin();
    const zoom = map.getZoom();
    const crs = map.options.crs!;
    // Layer point = projected point at this zoom minus the pixel origin; minus topLeft for the canvas.
    const dx = -origin.x - topLeft.x;
    const dy = -origin.y - topLeft.y;
    const toCanvas = (lon: number, lat: number): [number, number] => {
      const p = crs.latLngToPoint(L.latLng(lat, lon), zoom);
      return [p.x + dx, p.y + dy];
    };
    // Selected last, on top.
    const ordered = [...groups.values()].sort((a, b) => a.style.weight - b.style.weight);
    for (const { style, items } of ordered) {
      context.beginPath();
      for (const item of items) {
        const g = item.feature.geometry!;
        if (g.type === 'Point') {
          const [x, y] = toCanvas(g.coordinates[0], g.coordinates[1]);
          context.moveTo(x + 5, y);
          context.arc(x, y, 5, 0, Math.PI * 2);
          continue;
        }
        // Footprints smaller than a few pixels at this zoom are drawn as dots, so they stay findable.
        const [ax, ay] = toCanvas(item.bounds.getWest(), item.bounds.getNorth());
        const [bx, by] = toCanvas(item.bounds.getEast(), item.bounds.getSouth());
        if (Math.abs(bx - ax) < 6 && Math.abs(by - ay) < 6) {
          const cx = (ax + bx) / 2;
          const cy = (ay + by) / 2;
          context.moveTo(cx + 4, cy);
          context.arc(cx, cy, 4, 0, Math.PI * 2);
          continue;
        }
        const polygons = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
        for (const rings of polygons) {
          for (const ring of rings) {
            ring.forEach((position, k) => {
              const [x, y] = toCanvas(position[0], position[1]);
              if (k === 0) {
                context.moveTo(x, y);
              } else {
                context.lineTo(x, y);
              }
            });
            context.closePath();
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
  }
}
