// The browser's client of the changelab service (`changelab serve`), reached through
// jupyter-server-proxy at `<base_url>/changelab/` so that Jupyter's authentication guards it.
// Only GETs; the auth cookie of the JupyterLab page goes along as for any same-origin request.
import type { FeatureCollection, Geometry } from 'geojson';

/** A footprint feature as `/api/catalog/footprints` returns it. */
export interface IFootprintFeature {
  type: 'Feature';
  id: number;
  geometry: Geometry | null;
  properties: {
    id: number;
    key: string;
    captureTime: string | null;
    gsd: number | null;
    epsg: number | null;
    width: number;
    height: number;
    bands: number;
    dataType: string;
    nodata: number | null;
    overviews: number;
    isCog: boolean;
    quarantined: boolean;
    [name: string]: unknown;
  };
}

export interface IFootprintCollection {
  type: 'FeatureCollection';
  features: IFootprintFeature[];
  truncated?: boolean;
}

export interface ICatalogImage {
  id: number;
  project: string;
  key: string;
  width: number;
  height: number;
  bands: number;
  dataType: string;
  nodata: number | null;
  crs: { epsg: number | null; wkt: string | null };
  transform: number[] | null;
  gsd: { x: number; y: number } | null;
  footprint: Geometry | null;
  captureTime: string | null;
  overviews: number;
  isCog: boolean;
  [name: string]: unknown;
}

/** An inference run (change map) as `/api/inference/runs` returns it. */
export interface IInferenceRun {
  id: string;
  model: { name: string; version: string; sha256: string };
  before: { key: string; imageId: number | null; captureTime: string | null };
  after: { key: string; imageId: number | null; captureTime: string | null };
  epsg: number | null;
  outputs: Record<string, string>;
  /** Raster outputs: object key and the service path of their bytes. */
  rasters: Partial<Record<'probability' | 'mask' | 'confusion', { key: string; data: string }>>;
  metrics: Record<string, number> | null;
  polygonCount: number | null;
  changedPixels: number | null;
  bounds: [[number, number], [number, number]] | null;
  startedAt: string;
  finishedAt: string;
}

export interface IQuarantineEntry {
  id: number;
  key: string;
  reason: string;
  lastSeen: string;
}

/** The service's URL under this JupyterLab: `<base_url>/changelab/` (read from the page config). */
export function defaultServiceUrl(): string {
  let base = '/';
  const node = typeof document !== 'undefined' ? document.getElementById('jupyter-config-data') : null;
  if (node?.textContent) {
    try {
      base = (JSON.parse(node.textContent) as { baseUrl?: string }).baseUrl ?? '/';
    } catch {
      // keep '/'
    }
  }
  return new URL(`${base.replace(/\/?$/, '/')}changelab/`, window.location.origin).toString();
}

export class ServiceError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

export class CatalogService {
  /** `url` ends with a slash. */
  constructor(
    readonly url: string = defaultServiceUrl(),
    readonly project?: string
  ) {
    if (!this.url.endsWith('/')) {
      this.url += '/';
    }
  }

  private address(path: string, query: Record<string, string | number | undefined> = {}): string {
    const u = new URL(path, this.url);
    for (const [k, v] of Object.entries({ ...query, project: this.project })) {
      if (v !== undefined) {
        u.searchParams.set(k, String(v));
      }
    }
    return u.toString();
  }

  private async get<T>(path: string, query?: Record<string, string | number | undefined>, signal?: AbortSignal): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.address(path, query), { credentials: 'same-origin', signal });
    } catch (error) {
      if ((error as Error).name === 'AbortError') {
        throw error;
      }
      throw new ServiceError(`the changelab service at ${this.url} cannot be reached: ${(error as Error).message}`, 0);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ServiceError(
        response.ok
          ? `the changelab service at ${this.url} answered ${path} with something that is not JSON`
          : `the changelab service at ${this.url} is not available (HTTP ${response.status}); is it running? (changelab serve, started by JupyterLab)`,
        response.status
      );
    }
    if (!response.ok) {
      const message = (body as { error?: { message?: string } }).error?.message ?? `HTTP ${response.status}`;
      throw new ServiceError(message, response.status);
    }
    return body as T;
  }

  footprints(query: { bbox?: number[]; from?: string; to?: string; limit?: number }, signal?: AbortSignal): Promise<IFootprintCollection> {
    return this.get('api/catalog/footprints', { bbox: query.bbox?.map(v => v.toFixed(6)).join(','), from: query.from, to: query.to, limit: query.limit }, signal);
  }

  async dates(query: { bbox?: number[] }, signal?: AbortSignal): Promise<{ date: string; count: number }[]> {
    const body = await this.get<{ dates: { date: string; count: number }[] }>('api/catalog/dates', { bbox: query.bbox?.map(v => v.toFixed(6)).join(',') }, signal);
    return body.dates;
  }

  image(id: number): Promise<ICatalogImage> {
    return this.get(`api/catalog/images/${id}`);
  }

  async quarantine(): Promise<IQuarantineEntry[]> {
    return (await this.get<{ entries: IQuarantineEntry[] }>('api/catalog/quarantine', { limit: 200 })).entries;
  }

  /** Inference runs (change maps) of the project; with `bbox`, those over that view. */
  async inferenceRuns(query: { bbox?: number[]; limit?: number }, signal?: AbortSignal): Promise<IInferenceRun[]> {
    const body = await this.get<{ runs: IInferenceRun[] }>('api/inference/runs', { bbox: query.bbox?.map(v => v.toFixed(6)).join(','), limit: query.limit }, signal);
    return body.runs;
  }

  /** A run's change polygons (EPSG:4326) over a view, largest first. */
  runPolygons(id: string, query: { bbox?: number[]; limit?: number }, signal?: AbortSignal): Promise<FeatureCollection & { truncated?: boolean }> {
    return this.get(`api/inference/runs/${encodeURIComponent(id)}/polygons`, { bbox: query.bbox?.map(v => v.toFixed(6)).join(','), limit: query.limit }, signal);
  }

  /** The absolute URL of a service path (with the project), e.g. a run's raster `data` path. */
  urlOf(path: string): string {
    return this.address(path);
  }

  /** The URL geotiff.js reads an image's bytes from, by HTTP range requests. */
  dataUrl(id: number): string {
    return this.address(`api/catalog/images/${id}/data`);
  }
}
