// A raster layer read from a Cloud-Optimized GeoTIFF in the browser: geotiff.js fetches only the
// tiles of the overview that fits the zoom (HTTP range requests to the changelab service) and
// decodes them in its worker pool; this layer warps them from the image's CRS to the screen
// (Web Mercator) through a coarse grid of exact proj4 points, interpolated in between, with band
// choice, contrast stretch and nodata drawn transparent. No server-side tiles.
import * as L from 'leaflet';
import { fromUrl, Pool, type GeoTIFF, type GeoTIFFImage } from 'geotiff';
import { toImageCrs, type ToImageCrs } from './projection';

export type Stretch = 'none' | 'auto' | [number, number] | [number, number][];

export interface ICogLayerOptions extends L.LayerOptions {
  /** Where geotiff.js reads the file (the service's data route). */
  url: string;
  /** The image's CRS as the catalog holds it. */
  crs: { epsg: number | null; wkt?: string | null };
  /** GDAL-order geotransform of the full-resolution image; read from the file when absent. */
  transform?: number[] | null;
  /** 0-based bands: three for RGB, one for grey. Default the first three (or the first). */
  bands?: number[];
  /** Contrast stretch: 'none' (0-255 as stored), 'auto' (2-98 % percentiles), [min, max] or one per band. */
  stretch?: Stretch;
  /** Drawn transparent; default the file's GDAL_NODATA. */
  nodata?: number | null;
  /** Screen pixels between exact reprojected points; default 16. */
  gridStep?: number;
}

/** Statistics of the latest render, for status lines and the browser tests. */
export interface ICogRenderInfo {
  renders: number;
  /** Milliseconds of the latest render, from its start to the pixels on screen. */
  lastMs: number;
  /** Milliseconds from adding the layer to the first pixels on screen. */
  firstMs: number | null;
  /** Overview used by the latest render: 0 is full resolution. */
  overview: number;
  /** Pixels read (of that overview) by the latest render. */
  pixelsRead: number;
  /** Milliseconds to open the file (header and image directories), once. */
  openMs: number | null;
  /** Milliseconds of the latest render spent reading and decoding tiles, and warping them. */
  readMs: number;
  warpMs: number;
}

let sharedPool: Pool | undefined;
/**
 * One decoding pool for every layer: decoding stays off the main thread. Maps create it when they
 * open, so the workers are up before the first tile arrives.
 */
export function decoderPool(): Pool {
  sharedPool ??= new Pool(Math.max(2, Math.min(4, navigator.hardwareConcurrency || 2)));
  return sharedPool;
}

function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) {
    return 0;
  }
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}

type Band = ArrayLike<number>;

export class CogLayer extends L.Layer {
  declare options: ICogLayerOptions;
  readonly info: ICogRenderInfo = { renders: 0, lastMs: 0, firstMs: null, overview: 0, pixelsRead: 0, openMs: null, readMs: 0, warpMs: 0 };
  /** Why the layer draws nothing, when it fails; shown in the layer list. */
  error: string | null = null;
  /** Called after each render and on failure. */
  onRender: ((layer: CogLayer) => void) | null = null;

  private _canvas: HTMLCanvasElement | null = null;
  private _tiff: Promise<{ tiff: GeoTIFF; images: GeoTIFFImage[]; transform: number[]; nodata: number | null }> | null = null;
  private _toCrs: ToImageCrs | null = null;
  private _sequence = 0;
  private _abort: AbortController | null = null;
  private _pending = 0;
  private _addedAt = 0;
  private _stretch: [number, number][] | null = null;

  constructor(options: ICogLayerOptions) {
    super(options);
    L.Util.setOptions(this, options);
  }

  override onAdd(map: L.Map): this {
    this._addedAt = performance.now();
    const canvas = L.DomUtil.create('canvas', 'jp-changelab-map-raster leaflet-zoom-hide');
    canvas.setAttribute('aria-hidden', 'true');
    this._canvas = canvas;
    this.getPane()!.appendChild(canvas);
    map.on('moveend resize', this._schedule, this);
    map.on('zoomstart', this._hide, this);
    this._schedule();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off('moveend resize', this._schedule, this);
    map.off('zoomstart', this._hide, this);
    this._abort?.abort();
    this._canvas?.remove();
    this._canvas = null;
    return this;
  }

  /** The canvas the layer draws on (null while not on a map). */
  get canvas(): HTMLCanvasElement | null {
    return this._canvas;
  }

  /** Changes bands or stretch and redraws. */
  setStyle(style: { bands?: number[]; stretch?: Stretch }): void {
    L.Util.setOptions(this, style);
    this._stretch = null;
    this._schedule();
  }

  /** Redraws now (for instance after the map's size changed). */
  redraw(): void {
    this._schedule();
  }

  private _hide(): void {
    if (this._canvas) {
      this._canvas.style.visibility = 'hidden';
    }
  }

  /**
   * Whether the layer is shown. A hidden layer keeps its last picture and skips renders while
   * the view moves, then renders once when shown again, so toggling visibility is instant.
   */
  setActive(active: boolean): void {
    this._active = active;
    if (active && this._dirty) {
      this._schedule();
    }
  }

  private _active = true;
  private _dirty = false;

  private _schedule(): void {
    if (!this._active) {
      this._dirty = true;
      return;
    }
    this._dirty = false;
    cancelAnimationFrame(this._pending);
    this._pending = requestAnimationFrame(() => {
      this._render().catch(error => {
        if ((error as Error).name !== 'AbortError') {
          this.error = (error as Error).message ?? String(error);
          this.onRender?.(this);
        }
      });
    });
  }

  private _open() {
    this._tiff ??= (async () => {
      const opened = performance.now();
      const tiff = await fromUrl(this.options.url, { allowFullFile: false });
      const count = await tiff.getImageCount();
      // All directories at once: in a COG they share the first block, elsewhere the reads overlap.
      const images: GeoTIFFImage[] = await Promise.all(Array.from({ length: count }, (_, i) => tiff.getImage(i)));
      this.info.openMs = performance.now() - opened;
      // Masks and other sub-files keep their own sizes; overviews are the reduced-resolution ones.
      images.sort((a, b) => b.getWidth() - a.getWidth());
      const full = images[0];
      let transform = this.options.transform ?? null;
      if (!transform) {
        const [ox, oy] = full.getOrigin();
        const [rx, ry] = full.getResolution();
        transform = [ox, rx, 0, oy, 0, ry];
      }
      const nodata = this.options.nodata !== undefined ? this.options.nodata : full.getGDALNoData();
      return { tiff, images, transform, nodata };
    })();
    this._tiff.catch(() => (this._tiff = null));
    return this._tiff;
  }

  private async _render(): Promise<void> {
    const map = this._map;
    const canvas = this._canvas;
    if (!map || !canvas) {
      return;
    }
    const started = performance.now();
    const sequence = ++this._sequence;
    this._abort?.abort();
    const abort = new AbortController();
    this._abort = abort;

    const { images, transform, nodata } = await this._open();
    this._toCrs ??= toImageCrs(this.options.crs);
    const toCrs = this._toCrs;
    const full = images[0];
    const W0 = full.getWidth();
    const H0 = full.getHeight();
    const [ox, a, b, oy, d, e] = transform;
    const det = a * e - b * d;
    if (!det) {
      throw new Error('the image has a degenerate geotransform');
    }
    // CRS coordinates to full-resolution pixel coordinates (inverse of the affine geotransform).
    const toPixel = (x: number, y: number): [number, number] => {
      const dx = x - ox;
      const dy = y - oy;
      return [(e * dx - b * dy) / det, (-d * dx + a * dy) / det];
    };

    const size = map.getSize();
    const width = Math.max(1, size.x);
    const height = Math.max(1, size.y);
    const step = this.options.gridStep ?? 16;
    const gw = Math.ceil(width / step) + 1;
    const gh = Math.ceil(height / step) + 1;
    const gridCol = new Float64Array(gw * gh);
    const gridRow = new Float64Array(gw * gh);
    let minCol = Infinity;
    let minRow = Infinity;
    let maxCol = -Infinity;
    let maxRow = -Infinity;
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++) {
        const ll = map.containerPointToLatLng([gx * step, gy * step]);
        const [x, y] = toCrs([ll.lng, ll.lat]);
        const [c, r] = toPixel(x, y);
        const i = gy * gw + gx;
        gridCol[i] = c;
        gridRow[i] = r;
        if (Number.isFinite(c) && Number.isFinite(r)) {
          minCol = Math.min(minCol, c);
          maxCol = Math.max(maxCol, c);
          minRow = Math.min(minRow, r);
          maxRow = Math.max(maxRow, r);
        }
      }
    }
    minCol = Math.max(0, Math.floor(minCol));
    minRow = Math.max(0, Math.floor(minRow));
    maxCol = Math.min(W0, Math.ceil(maxCol));
    maxRow = Math.min(H0, Math.ceil(maxRow));
    const context = canvas.getContext('2d')!;
    const topLeft = map.containerPointToLayerPoint([0, 0]);
    if (maxCol <= minCol || maxRow <= minRow) {
      // Out of view: nothing to draw.
      canvas.width = 1;
      canvas.height = 1;
      this._finish(sequence, started);
      return;
    }

    // Full-resolution pixels per screen pixel at the centre of the view decides the overview.
    const ci = Math.floor(gh / 2) * gw + Math.floor(gw / 2);
    const density = Math.hypot(gridCol[ci + 1] - gridCol[ci], gridRow[ci + 1] - gridRow[ci]) / step;
    let level = 0;
    for (let i = 1; i < images.length; i++) {
      const factor = W0 / images[i].getWidth();
      if (factor <= density * 1.01) {
        level = i;
      }
    }
    let image = images[level];
    let factor = W0 / image.getWidth();
    let window = [
      Math.floor(minCol / factor),
      Math.floor(minRow / factor),
      Math.min(image.getWidth(), Math.ceil(maxCol / factor)),
      Math.min(image.getHeight(), Math.ceil(maxRow / factor))
    ];
    // Never read more than ~16 M pixels for one view: take a coarser overview instead.
    while ((window[2] - window[0]) * (window[3] - window[1]) > 16e6 && level + 1 < images.length) {
      level++;
      image = images[level];
      factor = W0 / image.getWidth();
      window = [
        Math.floor(minCol / factor),
        Math.floor(minRow / factor),
        Math.min(image.getWidth(), Math.ceil(maxCol / factor)),
        Math.min(image.getHeight(), Math.ceil(maxRow / factor))
      ];
    }
    const bandCount = image.getSamplesPerPixel();
    const bands = (this.options.bands ?? (bandCount >= 3 ? [0, 1, 2] : [0])).filter(bi => bi < bandCount);
    if (bands.length === 0) {
      throw new Error(`the image has ${bandCount} band(s); choose bands from 0 to ${bandCount - 1}`);
    }
    const readStarted = performance.now();
    const rasters = (await image.readRasters({ window, samples: bands, pool: decoderPool(), signal: abort.signal })) as unknown as Band[];
    if (sequence !== this._sequence) {
      return;
    }
    const warpStarted = performance.now();
    this.info.readMs = warpStarted - readStarted;
    const ww = window[2] - window[0];
    const wh = window[3] - window[1];
    const stretch = this._stretchFor(rasters, nodata, image.getBitsPerSample(0) === 8 && image.getSampleFormat(0) === 1);

    const pixels = context.createImageData(width, height);
    const out = pixels.data;
    const grey = bands.length < 3;
    const r0 = rasters[0];
    const r1 = grey ? r0 : rasters[1];
    const r2 = grey ? r0 : rasters[2];
    const [s0, s1, s2] = grey ? [stretch[0], stretch[0], stretch[0]] : stretch;
    const k0 = 255 / (s0[1] - s0[0] || 1);
    const k1 = 255 / (s1[1] - s1[0] || 1);
    const k2 = 255 / (s2[1] - s2[0] || 1);
    const hasNodata = nodata !== null && nodata !== undefined && !Number.isNaN(nodata);
    const inv = 1 / factor;
    for (let y = 0; y < height; y++) {
      const gy = Math.min(gh - 2, Math.floor(y / step));
      const ty = (y - gy * step) / step;
      for (let gx = 0; gx < gw - 1; gx++) {
        const i00 = gy * gw + gx;
        const i10 = i00 + 1;
        const i01 = i00 + gw;
        const i11 = i01 + 1;
        // Source coordinates down the left and right edges of this cell, at this row.
        const cl = gridCol[i00] + (gridCol[i01] - gridCol[i00]) * ty;
        const cr = gridCol[i10] + (gridCol[i11] - gridCol[i10]) * ty;
        const rl = gridRow[i00] + (gridRow[i01] - gridRow[i00]) * ty;
        const rr = gridRow[i10] + (gridRow[i11] - gridRow[i10]) * ty;
        const x0 = gx * step;
        const x1 = Math.min(width, x0 + step);
        for (let x = x0; x < x1; x++) {
          const tx = (x - x0) / step;
          const sx = Math.floor((cl + (cr - cl) * tx) * inv) - window[0];
          const sy = Math.floor((rl + (rr - rl) * tx) * inv) - window[1];
          const o = (y * width + x) * 4;
          if (sx < 0 || sy < 0 || sx >= ww || sy >= wh) {
            continue; // alpha stays 0
          }
          const si = sy * ww + sx;
          const v0 = r0[si];
          if (hasNodata && v0 === nodata && r1[si] === nodata && r2[si] === nodata) {
            continue;
          }
          if (Number.isNaN(v0)) {
            continue;
          }
          out[o] = (v0 - s0[0]) * k0;
          out[o + 1] = (r1[si] - s1[0]) * k1;
          out[o + 2] = (r2[si] - s2[0]) * k2;
          out[o + 3] = 255;
        }
      }
    }
    canvas.width = width;
    canvas.height = height;
    context.putImageData(pixels, 0, 0);
    L.DomUtil.setPosition(canvas, topLeft);
    this.info.overview = level;
    this.info.pixelsRead = ww * wh;
    this.info.warpMs = performance.now() - warpStarted;
    this._finish(sequence, started);
  }

  private _finish(sequence: number, started: number): void {
    if (sequence !== this._sequence || !this._canvas) {
      return;
    }
    const now = performance.now();
    this.error = null;
    this.info.renders++;
    this.info.lastMs = now - started;
    this.info.firstMs ??= now - this._addedAt;
    const canvas = this._canvas;
    canvas.style.visibility = '';
    canvas.dataset.renders = String(this.info.renders);
    canvas.dataset.overview = String(this.info.overview);
    canvas.dataset.renderMs = this.info.lastMs.toFixed(1);
    canvas.dataset.firstRenderMs = this.info.firstMs.toFixed(1);
    this.onRender?.(this);
  }

  /** The per-band [min, max] to map onto 0-255; 'auto' is computed once from the first view. */
  private _stretchFor(rasters: Band[], nodata: number | null, isByte: boolean): [number, number][] {
    const option = this.options.stretch ?? (isByte ? 'none' : 'auto');
    if (option === 'none') {
      return rasters.map(() => [0, 255]);
    }
    if (Array.isArray(option)) {
      return Array.isArray(option[0]) ? (option as [number, number][]) : rasters.map(() => option as [number, number]);
    }
    if (!this._stretch) {
      this._stretch = rasters.map(band => {
        const sample: number[] = [];
        const stride = Math.max(1, Math.floor(band.length / 100_000));
        for (let i = 0; i < band.length; i += stride) {
          const v = band[i];
          if (!Number.isNaN(v) && v !== nodata) {
            sample.push(v);
          }
        }
        sample.sort((p, q) => p - q);
        return [percentile(sample, 0.02), percentile(sample, 0.98)];
      });
    }
    return this._stretch;
  }
}
