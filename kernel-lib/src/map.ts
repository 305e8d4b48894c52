// `map(layers, options)` for notebooks: an `application/vnd.changelab.map+json` output that the
// changelab extension draws as the interactive map of the Map previews panel (COGs read in the
// browser through the changelab service, GeoJSON overlays, swipe, time slider), plus a static PNG
// of the same view so a shared notebook opened without the extension still shows a picture.
import { deflateSync } from 'zlib';
import proj4 from 'proj4';
import type { CatalogImage } from './catalog/images';
import { lookupEpsg } from './catalog/extract/epsg-registry';
import { ChangelabError } from './errors';
import { MIME_PREFIX, type IDisplayBundle, type IDisplayable } from './display';
import type { IObjectStore } from './objects/store';

/** GeoJSON the map draws as an overlay (EPSG:4326 lon/lat). */
export type GeoJsonInput =
  | { type: 'FeatureCollection'; features: { type: 'Feature'; geometry: unknown; properties?: Record<string, unknown> | null }[] }
  | { type: 'Feature'; geometry: unknown; properties?: Record<string, unknown> | null }
  | { type: string; coordinates: unknown };

export interface IVectorStyle {
  color?: string;
  fillColor?: string;
  weight?: number;
  fillOpacity?: number;
  dashArray?: string;
}

/** One layer: a catalog image (drawn from its COG), GeoJSON, or the catalog's footprints. */
export type MapLayerInput =
  | CatalogImage
  | {
      image: CatalogImage;
      name?: string;
      /** 0-based bands: three for RGB, one for grey. */
      bands?: number[];
      /** 'none', 'auto' (2-98 % percentiles) or [min, max]. */
      stretch?: 'none' | 'auto' | [number, number];
      opacity?: number;
      visible?: boolean;
    }
  | { geojson: GeoJsonInput; name?: string; style?: IVectorStyle; date?: string | Date; opacity?: number; visible?: boolean }
  | { footprints: true; name?: string };

export interface IMapOptions {
  title?: string;
  /** Swipe between two image layers: true (earliest left, latest right) or their names. */
  swipe?: boolean | [string, string];
  /** Default: shown when layers have dates. */
  timeSlider?: boolean;
  /** Also draw the catalog's footprints for the view. */
  footprints?: boolean;
  /** Pixel height of the map. Default 420. */
  height?: number;
  /** [[south, west], [north, east]] degrees; default the layers' extent. */
  bounds?: [[number, number], [number, number]];
  /** Where the browser reaches the changelab service; default `<base_url>/changelab/`. */
  serviceUrl?: string;
  project?: string;
  /** The workspace's store: with it (and geotiff.js installed) the static picture shows the imagery. */
  objects?: IObjectStore;
  /** Width of the static picture in pixels. Default 640. */
  previewWidth?: number;
}

interface ILayerSpec {
  id: string;
  name: string;
  kind: 'cog' | 'geojson' | 'footprints';
  date?: string | null;
  opacity?: number;
  visible?: boolean;
  imageId?: number;
  crs?: { epsg: number | null; wkt: string | null };
  transform?: number[] | null;
  nodata?: number | null;
  bands?: number[];
  stretch?: 'none' | 'auto' | [number, number];
  bounds?: [[number, number], [number, number]];
  data?: { type: 'FeatureCollection'; features: unknown[] };
  style?: IVectorStyle;
}

/** A map output: `show(await map([...]))` in a notebook. */
export class MapView implements IDisplayable {
  constructor(
    readonly title: string,
    readonly spec: { layers: ILayerSpec[] } & Record<string, unknown>,
    readonly png: Buffer,
    readonly text: string
  ) {}

  toDisplay(): IDisplayBundle {
    return {
      data: {
        [`${MIME_PREFIX}map+json`]: { version: 1, kind: 'map', title: this.title, data: this.spec },
        'image/png': this.png.toString('base64'),
        'text/plain': this.text
      },
      metadata: { 'image/png': { width: this.png.readUInt32BE(16), height: this.png.readUInt32BE(20) } }
    };
  }
}

/** A layer `map()` cannot use: names the layer and the problem. */
export class MapLayerError extends ChangelabError {}

const isImage = (x: unknown): x is CatalogImage =>
  typeof x === 'object' && x !== null && typeof (x as CatalogImage).id === 'number' && 'footprint' in x && 'transform' in x;

function boundsOf(coordinates: unknown): [[number, number], [number, number]] | undefined {
  let w = Infinity;
  let s = Infinity;
  let e = -Infinity;
  let n = -Infinity;
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number') {
      w = Math.min(w, c[0]);
      e = Math.max(e, c[0]);
      s = Math.min(s, c[1] as number);
      n = Math.max(n, c[1] as number);
    } else if (Array.isArray(c)) {
      c.forEach(visit);
    }
  };
  visit(coordinates);
  return Number.isFinite(w) ? [[s, w], [n, e]] : undefined;
}

function featureCollection(input: GeoJsonInput, where: string): { type: 'FeatureCollection'; features: { type: 'Feature'; geometry: { type: string; coordinates: unknown }; properties: Record<string, unknown> }[] } {
  const g = input as { type?: string; features?: unknown[]; geometry?: unknown; properties?: Record<string, unknown> };
  if (g.type === 'FeatureCollection' && Array.isArray(g.features)) {
    return input as never;
  }
  if (g.type === 'Feature') {
    return { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: g.geometry as never, properties: g.properties ?? {} }] };
  }
  if (typeof g.type === 'string' && 'coordinates' in (input as object)) {
    return { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: input as never, properties: {} }] };
  }
  throw new MapLayerError(`${where}: geojson must be a FeatureCollection, a Feature or a geometry`, { layer: where });
}

function imageLayer(image: CatalogImage, extra: { name?: string; bands?: number[]; stretch?: ILayerSpec['stretch']; opacity?: number; visible?: boolean }, index: number): ILayerSpec {
  if (!image.transform || !image.footprint) {
    throw new MapLayerError(`layer ${index} (${image.key}): the image has no georeference, so it cannot be placed on a map`, { key: image.key });
  }
  return {
    id: `image-${image.id}`,
    name: extra.name ?? `${image.key.split('/').pop()}${image.captureTime ? ` (${image.captureTime.toISOString().slice(0, 10)})` : ''}`,
    kind: 'cog',
    imageId: image.id,
    crs: { epsg: image.crs.epsg, wkt: image.crs.wkt },
    transform: image.transform,
    nodata: image.nodata,
    date: image.captureTime?.toISOString() ?? null,
    bands: extra.bands,
    stretch: extra.stretch,
    opacity: extra.opacity,
    visible: extra.visible,
    bounds: boundsOf((image.footprint as { coordinates: unknown }).coordinates)
  };
}

/**
 * An interactive map of images and vectors for a notebook cell:
 * `show(await map([before, after, { geojson: changes, name: 'changes' }], { swipe: true }))`.
 * Images are drawn by the extension from their COGs through the changelab service; the output
 * also carries a static PNG (footprints, vectors and, given `objects`, the imagery itself).
 */
export async function map(layers: MapLayerInput[], options: IMapOptions = {}): Promise<MapView> {
  if (!Array.isArray(layers)) {
    throw new MapLayerError('map(layers, options): layers must be an array', {});
  }
  const specs: ILayerSpec[] = [];
  const images = new Map<string, CatalogImage>();
  let footprints = options.footprints ?? false;
  layers.forEach((input, index) => {
    if (isImage(input)) {
      const spec = imageLayer(input, {}, index);
      images.set(spec.id, input);
      specs.push(spec);
    } else if (typeof input === 'object' && input !== null && 'image' in input && isImage(input.image)) {
      const spec = imageLayer(input.image, input, index);
      images.set(spec.id, input.image);
      specs.push(spec);
    } else if (typeof input === 'object' && input !== null && 'geojson' in input) {
      const data = featureCollection(input.geojson, `layer ${index}`);
      specs.push({
        id: `vector-${index}`,
        name: input.name ?? `vectors ${index + 1}`,
        kind: 'geojson',
        data,
        style: input.style,
        date: input.date instanceof Date ? input.date.toISOString() : input.date ?? null,
        opacity: input.opacity,
        visible: input.visible,
        bounds: boundsOf(data.features.map(f => f.geometry?.coordinates))
      });
    } else if (typeof input === 'object' && input !== null && 'footprints' in input) {
      footprints = true;
    } else {
      throw new MapLayerError(
        `layer ${index}: expected a catalog image, { image }, { geojson } or { footprints: true }, got ${JSON.stringify(input)?.slice(0, 80)}`,
        { layer: index }
      );
    }
  });
  let swipe: IMapSpecSwipe | undefined;
  if (Array.isArray(options.swipe)) {
    const [left, right] = options.swipe.map(name => {
      const layer = specs.find(l => l.name === name || l.id === name);
      if (!layer) {
        throw new MapLayerError(`swipe: no layer named ${JSON.stringify(name)}; layers are ${specs.map(l => JSON.stringify(l.name)).join(', ')}`, { swipe: options.swipe });
      }
      return layer.id;
    });
    swipe = { left, right };
  } else if (options.swipe) {
    if (specs.filter(l => l.kind !== 'footprints').length < 2) {
      throw new MapLayerError('swipe needs two layers to compare', {});
    }
    swipe = true;
  }
  const extent = options.bounds ?? unionBounds(specs.map(l => l.bounds));
  const spec = {
    layers: specs,
    ...(extent ? { bounds: extent } : {}),
    ...(swipe ? { swipe } : {}),
    ...(options.timeSlider !== undefined ? { timeSlider: options.timeSlider } : {}),
    ...(footprints ? { footprints: true } : {}),
    ...(options.height ? { height: options.height } : {}),
    ...(options.serviceUrl ? { serviceUrl: options.serviceUrl } : {}),
    ...(options.project ? { project: options.project } : {})
  };
  const title = options.title ?? `map: ${specs.map(l => l.name).join(', ') || 'catalog footprints'}`;
  const png = await renderPreview(specs, images, extent, options);
  const text = [title, ...specs.map(l => `  ${l.kind.padEnd(7)} ${l.name}${l.date ? ` [${l.date.slice(0, 10)}]` : ''}`)].join('\n');
  return new MapView(title, spec, png, text);
}

type IMapSpecSwipe = true | { left: string; right: string };

function unionBounds(list: (ILayerSpec['bounds'] | undefined)[]): [[number, number], [number, number]] | undefined {
  const all = list.filter((b): b is [[number, number], [number, number]] => !!b);
  if (!all.length) {
    return undefined;
  }
  return [
    [Math.min(...all.map(b => b[0][0])), Math.min(...all.map(b => b[0][1]))],
    [Math.max(...all.map(b => b[1][0])), Math.max(...all.map(b => b[1][1]))]
  ];
}

// ---- the static picture ---------------------------------------------------------------------

const mercatorY = (lat: number) => Math.log(Math.tan(Math.PI / 4 + (Math.max(-85, Math.min(85, lat)) * Math.PI) / 360));
const latOfMercatorY = (y: number) => (360 / Math.PI) * Math.atan(Math.exp(y)) - 90;

const PALETTE: [number, number, number][] = [
  [25, 118, 210],
  [230, 81, 0],
  [56, 142, 60],
  [142, 36, 170],
  [0, 131, 143],
  [198, 40, 40]
];

function parseColour(colour: string | undefined, fallback: [number, number, number]): [number, number, number] {
  const m = colour ? /^#([0-9a-f]{6})$/i.exec(colour) : null;
  return m ? [parseInt(m[1].slice(0, 2), 16), parseInt(m[1].slice(2, 4), 16), parseInt(m[1].slice(4), 16)] : fallback;
}

/** Renders the layers in Web Mercator into an RGB PNG: imagery (when readable), then outlines. */
async function renderPreview(
  specs: ILayerSpec[],
  images: Map<string, CatalogImage>,
  extent: [[number, number], [number, number]] | undefined,
  options: IMapOptions
): Promise<Buffer> {
  const width = Math.max(64, Math.min(2048, options.previewWidth ?? 640));
  const [[south, west], [north, east]] = extent ?? [[-60, -180], [75, 180]];
  // A 5 % margin; height from the Mercator aspect ratio, clamped.
  const padX = (east - west || 0.001) * 0.05;
  const x0 = (west - padX) * (Math.PI / 180);
  const x1 = (east + padX) * (Math.PI / 180);
  const yS = mercatorY(south);
  const yN = mercatorY(north);
  const padY = (yN - yS || 0.001) * 0.05;
  const y0 = yS - padY;
  const y1 = yN + padY;
  const height = Math.max(48, Math.min(1536, Math.round((width * (y1 - y0)) / (x1 - x0))));
  const rgb = new Uint8Array(width * height * 3).fill(236);
  const lonAt = (px: number) => ((x0 + ((px + 0.5) / width) * (x1 - x0)) * 180) / Math.PI;
  const latAt = (py: number) => latOfMercatorY(y1 - ((py + 0.5) / height) * (y1 - y0));
  const toPx = (lon: number, lat: number): [number, number] => [
    (((lon * Math.PI) / 180 - x0) / (x1 - x0)) * width,
    ((y1 - mercatorY(lat)) / (y1 - y0)) * height
  ];

  // Imagery, bottom layer first (the list is top first, as in the layer list).
  for (const spec of [...specs].reverse()) {
    const image = images.get(spec.id);
    if (!image || !options.objects || spec.visible === false) {
      continue;
    }
    await drawImage(rgb, width, height, lonAt, latAt, image, spec, options.objects).catch(() => undefined);
  }
  // Outlines of images and vectors on top.
  specs.forEach((spec, i) => {
    if (spec.visible === false) {
      return;
    }
    const colour = parseColour(spec.style?.color, PALETTE[i % PALETTE.length]);
    const geometries: unknown[] =
      spec.kind === 'cog'
        ? [images.get(spec.id)?.footprint]
        : (spec.data?.features ?? []).map(f => (f as { geometry?: unknown }).geometry);
    for (const g of geometries) {
      for (const ring of ringsOf(g)) {
        for (let k = 1; k < ring.length; k++) {
          line(rgb, width, height, toPx(ring[k - 1][0], ring[k - 1][1]), toPx(ring[k][0], ring[k][1]), colour);
        }
      }
    }
  });
  return encodePng(width, height, rgb);
}

function ringsOf(geometry: unknown): number[][][] {
  const g = geometry as { type?: string; coordinates?: unknown } | null | undefined;
  if (!g?.coordinates) {
    return [];
  }
  switch (g.type) {
    case 'Polygon':
      return g.coordinates as number[][][];
    case 'MultiPolygon':
      return (g.coordinates as number[][][][]).flat();
    case 'LineString':
      return [g.coordinates as number[][]];
    case 'MultiLineString':
      return g.coordinates as number[][][];
    case 'Point': {
      const [x, y] = g.coordinates as number[];
      const d = 0.00005;
      return [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]];
    }
    default:
      return [];
  }
}

function line(rgb: Uint8Array, width: number, height: number, a: [number, number], b: [number, number], colour: [number, number, number]): void {
  const steps = Math.ceil(Math.max(Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]))) + 1;
  if (steps > 20_000) {
    return;
  }
  for (let s = 0; s <= steps; s++) {
    const x = Math.round(a[0] + ((b[0] - a[0]) * s) / steps);
    const y = Math.round(a[1] + ((b[1] - a[1]) * s) / steps);
    for (const [dx, dy] of [[0, 0], [1, 0], [0, 1]]) {
      const px = x + dx;
      const py = y + dy;
      if (px >= 0 && py >= 0 && px < width && py < height) {
        rgb.set(colour, (py * width + px) * 3);
      }
    }
  }
}

/** Draws one image from the smallest overview that still has the picture's resolution (geotiff.js, optional). */
async function drawImage(
  rgb: Uint8Array,
  width: number,
  height: number,
  lonAt: (px: number) => number,
  latAt: (py: number) => number,
  image: CatalogImage,
  spec: ILayerSpec,
  objects: IObjectStore
): Promise<void> {
  // geotiff.js reads the overview by ranges from the store; it is optional for the kernel library.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const geotiff = require('geotiff') as typeof import('geotiff');
  if (image.key.includes('://')) {
    return;
  }
  const info = await objects.head(image.key);
  const source = {
    fileSize: info.size,
    fetch: (slices: { offset: number; length: number }[]) =>
      Promise.all(
        slices.map(async s => {
          const b = await objects.get(image.key, { offset: s.offset, length: s.length ?? info.size - s.offset });
          return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
        })
      ),
    close: async () => undefined
  };
  const tiff = await (geotiff.GeoTIFF as unknown as { fromSource(source: unknown): Promise<import('geotiff').GeoTIFF> }).fromSource(source);
  const count = await tiff.getImageCount();
  const levels = [];
  for (let i = 0; i < count; i++) {
    levels.push(await tiff.getImage(i));
  }
  levels.sort((a, b) => b.getWidth() - a.getWidth());
  const W0 = levels[0].getWidth();
  // Preview pixels the image spans, roughly: pick the smallest level at least that wide.
  const fp = boundsOf((image.footprint as { coordinates: unknown }).coordinates)!;
  const spanPx = ((fp[1][1] - fp[0][1]) / (lonAt(width - 1) - lonAt(0))) * width;
  let level = levels[0];
  for (const l of levels) {
    if (l.getWidth() >= spanPx) {
      level = l;
    }
  }
  const f = W0 / level.getWidth();
  const bandCount = level.getSamplesPerPixel();
  const bands = (spec.bands ?? (bandCount >= 3 ? [0, 1, 2] : [0])).filter(b => b < bandCount);
  const rasters = (await level.readRasters({ samples: bands })) as unknown as ArrayLike<number>[];
  const lw = level.getWidth();
  const lh = level.getHeight();
  const definition = image.crs.epsg === 4326 ? null : (image.crs.epsg ? lookupEpsg(image.crs.epsg)?.proj4 : null) ?? image.crs.wkt;
  if (image.crs.epsg !== 4326 && !definition) {
    return;
  }
  const forward = definition ? proj4('+proj=longlat +datum=WGS84 +no_defs', definition).forward : (p: number[]) => p;
  const [ox, a, b, oy, d, e] = image.transform!;
  const det = a * e - b * d;
  const isByte = level.getBitsPerSample(0) === 8;
  const stretch = spec.stretch ?? (isByte ? 'none' : 'auto');
  const ranges = bands.map((_, i) => {
    if (stretch === 'none') {
      return [0, 255];
    }
    if (Array.isArray(stretch)) {
      return stretch;
    }
    const sample = Array.from(rasters[i]).filter(v => v !== image.nodata && !Number.isNaN(v)).sort((p, q) => p - q);
    return [sample[Math.floor(sample.length * 0.02)] ?? 0, sample[Math.floor(sample.length * 0.98)] ?? 255];
  });
  const opacity = spec.opacity ?? 1;
  for (let py = 0; py < height; py++) {
    const lat = latAt(py);
    for (let px = 0; px < width; px++) {
      const [x, y] = forward([lonAt(px), lat]);
      const col = Math.floor(((e * (x - ox) - b * (y - oy)) / det) / f);
      const row = Math.floor(((-d * (x - ox) + a * (y - oy)) / det) / f);
      if (col < 0 || row < 0 || col >= lw || row >= lh) {
        continue;
      }
      const si = row * lw + col;
      if (image.nodata !== null && rasters[0][si] === image.nodata) {
        continue;
      }
      const o = (py * width + px) * 3;
      for (let c = 0; c < 3; c++) {
        const bi = Math.min(c, bands.length - 1);
        const [lo, hi] = ranges[bi];
        const v = Math.max(0, Math.min(255, ((rasters[bi][si] - lo) * 255) / (hi - lo || 1)));
        rgb[o + c] = Math.round(rgb[o + c] * (1 - opacity) + v * opacity);
      }
    }
  }
}

// ---- PNG --------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

/** An 8-bit RGB PNG. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  const raw = Buffer.alloc(height * (width * 3 + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0))
  ]);
}
