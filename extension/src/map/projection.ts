// Coordinate reference systems the map can draw images in: the CRSs the catalog holds for Korean
// aerial imagery (Korea 2000 belts, the unified Korea CRS), every UTM zone, WGS 84, Web Mercator,
// and anything else given as WKT. proj4 does the arithmetic; this module only names the systems.
import proj4 from 'proj4';

const KOREA_2010_BELT = (lon0: number) =>
  `+proj=tmerc +lat_0=38 +lon_0=${lon0} +k=1 +x_0=200000 +y_0=600000 +ellps=GRS80 +units=m +no_defs`;

/** PROJ strings from the EPSG registry; Korea 2000 equals WGS 84 within centimetres. */
const DEFINITIONS: Record<number, string> = {
  4326: '+proj=longlat +datum=WGS84 +no_defs',
  4737: '+proj=longlat +ellps=GRS80 +no_defs',
  3857: '+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +no_defs',
  5179: '+proj=tmerc +lat_0=38 +lon_0=127.5 +k=0.9996 +x_0=1000000 +y_0=2000000 +ellps=GRS80 +units=m +no_defs',
  5185: KOREA_2010_BELT(125),
  5186: KOREA_2010_BELT(127),
  5187: KOREA_2010_BELT(129),
  5188: KOREA_2010_BELT(131)
};

/** The PROJ definition of an EPSG code, or undefined when the map does not know it. */
export function projDefinition(epsg: number): string | undefined {
  if (DEFINITIONS[epsg]) {
    return DEFINITIONS[epsg];
  }
  // WGS 84 / UTM zones: 326zz north, 327zz south.
  const zone = epsg % 100;
  if (zone >= 1 && zone <= 60 && (Math.floor(epsg / 100) === 326 || Math.floor(epsg / 100) === 327)) {
    return `+proj=utm +zone=${zone}${Math.floor(epsg / 100) === 327 ? ' +south' : ''} +datum=WGS84 +units=m +no_defs`;
  }
  return undefined;
}

/** Converts [lon, lat] (WGS 84) to the image CRS. */
export type ToImageCrs = (lonLat: [number, number]) => [number, number];

/**
 * The forward transform from WGS 84 longitude/latitude to an image's CRS, by EPSG code or WKT.
 * Throws an error naming the CRS when neither is usable, so the layer can say why it is empty.
 */
export function toImageCrs(crs: { epsg: number | null; wkt?: string | null }): ToImageCrs {
  const definition = (crs.epsg !== null ? projDefinition(crs.epsg) : undefined) ?? crs.wkt ?? undefined;
  if (!definition) {
    throw new Error(`the map cannot draw images in EPSG:${crs.epsg ?? '?'} (no definition and no WKT in the catalog)`);
  }
  if (crs.epsg === 4326 || crs.epsg === 4737) {
    return p => [p[0], p[1]];
  }
  const converter = proj4(DEFINITIONS[4326], definition);
  return p => converter.forward(p) as [number, number];
}
