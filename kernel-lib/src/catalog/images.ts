// An image as the catalog holds it (a row of `image_metadata`), how rows are read back into that
// shape, and how one image or a page of them shows in a notebook.
import { card, type IDisplayBundle, type IDisplayable, type Scalar } from '../display';
import type { CaptureTimeSource, Geometry4326, IImageMetadata, ImageFormat, RasterDataType } from './types';

/**
 * What the catalog keeps of an image's metadata (same names and meanings as `IImageMetadata`),
 * plus the row's own columns. The CRS, transform and footprint come back as the database
 * stores them.
 */
export interface IImage
  extends Pick<
    IImageMetadata,
    | 'etag'
    | 'versionId'
    | 'size'
    | 'format'
    | 'width'
    | 'height'
    | 'bands'
    | 'dataType'
    | 'nodata'
    | 'compression'
    | 'tiled'
    | 'overviews'
    | 'isCog'
    | 'gsd'
    | 'centroid'
    | 'captureTime'
    | 'captureTimeSource'
    | 'gps'
    | 'sha256'
    | 'extra'
  > {
  id: number;
  project: string;
  /** Key in the workspace store, or a full URI (s3://bucket/key, file:///path) for other places. */
  key: string;
  crs: { epsg: number | null; wkt: string | null };
  transform: number[] | null;
  /** EPSG:4326; always a MultiPolygon (see migration 0002). */
  footprint: Geometry4326 | null;
  /** Position of a still with EXIF GPS and no georeference. */
  location: Geometry4326 | null;
  indexedAt: Date;
  deletedAt: Date | null;
}

/** The SELECT list that `rowToImage` reads. */
export const IMAGE_COLUMNS = `id::text AS id, project, object_key, etag, version_id, size::text AS size, format, width,
  height, bands, data_type, nodata, compression, tiled, overviews, is_cog, crs_epsg, crs_wkt, transform,
  gsd_x::float8 AS gsd_x, gsd_y::float8 AS gsd_y, ST_AsGeoJSON(footprint, 9)::json AS footprint,
  ST_AsGeoJSON(location, 9)::json AS location, ST_X(centroid) AS centroid_lon, ST_Y(centroid) AS centroid_lat,
  capture_time, capture_time_source, gps_lat, gps_lon, gps_alt, sha256, extra, indexed_at, deleted_at`;

export interface IImageRow {
  id: string;
  project: string;
  object_key: string;
  etag: string;
  version_id: string | null;
  size: string;
  format: ImageFormat;
  width: number;
  height: number;
  bands: number;
  data_type: RasterDataType;
  nodata: number | null;
  compression: string | null;
  tiled: boolean;
  overviews: number;
  is_cog: boolean;
  crs_epsg: number | null;
  crs_wkt: string | null;
  transform: number[] | null;
  gsd_x: number | null;
  gsd_y: number | null;
  footprint: Geometry4326 | null;
  location: Geometry4326 | null;
  centroid_lon: number | null;
  centroid_lat: number | null;
  capture_time: Date | null;
  capture_time_source: CaptureTimeSource | null;
  gps_lat: number | null;
  gps_lon: number | null;
  gps_alt: number | null;
  sha256: string | null;
  extra: Record<string, unknown>;
  indexed_at: Date;
  deleted_at: Date | null;
}

/** One catalogued image; shows itself as a card. */
export class CatalogImage implements IImage, IDisplayable {
  id!: number;
  project!: string;
  key!: string;
  etag!: string;
  versionId!: string | null;
  size!: number;
  format!: ImageFormat;
  width!: number;
  height!: number;
  bands!: number;
  dataType!: RasterDataType;
  nodata!: number | null;
  compression!: string | null;
  tiled!: boolean;
  overviews!: number;
  isCog!: boolean;
  crs!: { epsg: number | null; wkt: string | null };
  transform!: number[] | null;
  gsd!: { x: number; y: number } | null;
  footprint!: Geometry4326 | null;
  location!: Geometry4326 | null;
  centroid!: [number, number] | null;
  captureTime!: Date | null;
  captureTimeSource!: CaptureTimeSource | null;
  gps!: { lat: number; lon: number; alt: number | null } | null;
  sha256!: string | null;
  extra!: Record<string, unknown>;
  indexedAt!: Date;
  deletedAt!: Date | null;

  constructor(image: IImage) {
    Object.assign(this, image);
  }

  toDisplay(): IDisplayBundle {
    return card({
      kind: 'table',
      title: `image ${this.id}: ${this.key}`,
      status: this.deletedAt ? 'warning' : 'ok',
      summary: this.deletedAt ? `removed from storage at ${this.deletedAt.toISOString()}` : undefined,
      items: [
        { label: 'captured', value: formatTime(this.captureTime) + (this.captureTimeSource ? ` (${this.captureTimeSource})` : '') },
        { label: 'size', value: `${this.width} x ${this.height} px, ${this.bands} band(s) ${this.dataType}` },
        { label: 'GSD', value: formatGsd(this.gsd) },
        { label: 'CRS', value: this.crs.epsg ? `EPSG:${this.crs.epsg}` : this.crs.wkt ? 'WKT (no EPSG code)' : null },
        { label: 'centroid', value: this.centroid ? `${this.centroid[1].toFixed(6)}, ${this.centroid[0].toFixed(6)}` : null },
        { label: 'format', value: `${this.format}${this.compression ? `, ${this.compression}` : ''}${this.isCog ? ', COG' : ''}` },
        { label: 'overviews', value: this.overviews },
        { label: 'bytes', value: this.size },
        { label: 'etag', value: this.etag },
        { label: 'sha256', value: this.sha256 }
      ],
      data: { image: this }
    });
  }
}

export function rowToImage(row: IImageRow): CatalogImage {
  return new CatalogImage({
    id: Number(row.id),
    project: row.project,
    key: row.object_key,
    etag: row.etag,
    versionId: row.version_id,
    size: Number(row.size),
    format: row.format,
    width: row.width,
    height: row.height,
    bands: row.bands,
    dataType: row.data_type,
    nodata: row.nodata,
    compression: row.compression,
    tiled: row.tiled,
    overviews: row.overviews,
    isCog: row.is_cog,
    crs: { epsg: row.crs_epsg, wkt: row.crs_wkt },
    transform: row.transform,
    gsd: row.gsd_x !== null && row.gsd_y !== null ? { x: row.gsd_x, y: row.gsd_y } : null,
    footprint: row.footprint,
    location: row.location,
    centroid: row.centroid_lon !== null && row.centroid_lat !== null ? [row.centroid_lon, row.centroid_lat] : null,
    captureTime: row.capture_time,
    captureTimeSource: row.capture_time_source,
    gps: row.gps_lat !== null && row.gps_lon !== null ? { lat: row.gps_lat, lon: row.gps_lon, alt: row.gps_alt } : null,
    sha256: row.sha256,
    extra: row.extra ?? {},
    indexedAt: row.indexed_at,
    deletedAt: row.deleted_at
  });
}

export const formatTime = (t: Date | null) => (t ? t.toISOString().replace('.000Z', 'Z') : null) ?? '—';
export const formatGsd = (gsd: { x: number; y: number } | null): Scalar =>
  gsd ? (Math.abs(gsd.x - gsd.y) < 1e-3 * gsd.x ? `${round(gsd.x)} m` : `${round(gsd.x)} x ${round(gsd.y)} m`) : null;
const round = (x: number) => Number(x.toPrecision(4));

/** The columns of an image table (search results, pair lists). */
export function imageTableRow(image: IImage): Scalar[] {
  return [
    image.id,
    image.key,
    formatTime(image.captureTime),
    formatGsd(image.gsd),
    image.crs.epsg ? `EPSG:${image.crs.epsg}` : image.crs.wkt ? 'WKT' : null,
    `${image.width}x${image.height}x${image.bands}`,
    image.isCog
  ];
}
export const IMAGE_TABLE_COLUMNS = ['id', 'key', 'captured', 'GSD', 'CRS', 'pixels', 'COG'];
