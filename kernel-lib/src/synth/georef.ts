// Places a synthetic scene on the Earth: the CRS, and the GDAL geotransform of a north-up grid
// centred on a given latitude/longitude. In projected CRSs the pixel size is the GSD in metres;
// in EPSG:4326 it is the GSD converted to degrees at the scene's latitude (so pixels are not
// square in degrees), as a georeferenced drone mosaic in WGS 84 would be.

import proj4 from 'proj4';

import type { GeoTransform, ICrs } from '../raster';

/** The CRSs the generator writes: Korea 2000 / Central Belt 2010, UTM 52N, WGS 84. */
export type SyntheticCrs = 5186 | 32652 | 4326;

export const SYNTHETIC_CRSS: readonly SyntheticCrs[] = [5186, 32652, 4326];

// PROJ definitions from the EPSG registry. Korea 2000 is ITRF-based and equals WGS 84 within
// centimetres, so no datum shift is needed.
const PROJ_DEFINITIONS: Record<Exclude<SyntheticCrs, 4326>, string> = {
  5186: '+proj=tmerc +lat_0=38 +lon_0=127 +k=1 +x_0=200000 +y_0=600000 +ellps=GRS80 +units=m +no_defs',
  32652: '+proj=utm +zone=52 +datum=WGS84 +units=m +no_defs'
};
const WGS84 = '+proj=longlat +datum=WGS84 +no_defs';

export interface ILatLon {
  lat: number;
  lon: number;
}

export interface ISceneGeoreference {
  crs: ICrs;
  transform: GeoTransform;
  /** Pixel size in CRS units (metres, or degrees for EPSG:4326): [x, y]. */
  pixelSize: [number, number];
}

export function isSyntheticCrs(epsg: number): epsg is SyntheticCrs {
  return (SYNTHETIC_CRSS as readonly number[]).includes(epsg);
}

export function georeferenceScene(
  epsg: SyntheticCrs,
  centre: ILatLon,
  width: number,
  height: number,
  gsd: number
): ISceneGeoreference {
  if (epsg === 4326) {
    const xSize = gsd / metresPerDegreeLongitude(centre.lat);
    const ySize = gsd / metresPerDegreeLatitude(centre.lat);
    return {
      crs: { epsg, kind: 'geographic' },
      transform: [
        centre.lon - (width / 2) * xSize,
        xSize,
        0,
        centre.lat + (height / 2) * ySize,
        0,
        -ySize
      ],
      pixelSize: [xSize, ySize]
    };
  }
  const [easting, northing] = proj4(WGS84, PROJ_DEFINITIONS[epsg], [
    centre.lon,
    centre.lat
  ]);
  // Snap the corner to the pixel grid, as orthophoto producers do, so grids of a place line up.
  const x0 = Math.round((easting - (width / 2) * gsd) / gsd) * gsd;
  const y0 = Math.round((northing + (height / 2) * gsd) / gsd) * gsd;
  return {
    crs: { epsg, kind: 'projected' },
    transform: [x0, gsd, 0, y0, 0, -gsd],
    pixelSize: [gsd, gsd]
  };
}

/** Length of one degree on the WGS 84 ellipsoid (series expansion, millimetre-accurate). */
export function metresPerDegreeLatitude(lat: number): number {
  const phi = (lat * Math.PI) / 180;
  return (
    111132.92 -
    559.82 * Math.cos(2 * phi) +
    1.175 * Math.cos(4 * phi) -
    0.0023 * Math.cos(6 * phi)
  );
}

export function metresPerDegreeLongitude(lat: number): number {
  const phi = (lat * Math.PI) / 180;
  return (
    111412.84 * Math.cos(phi) -
    93.5 * Math.cos(3 * phi) +
    0.118 * Math.cos(5 * phi)
  );
}
