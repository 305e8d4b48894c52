// GeoTIFF georeferencing: the model tags that place pixels in the CRS and the GeoKey directory
// that names the CRS by EPSG code. Only EPSG-coded CRSs are written, because every reader
// (GDAL, geotiff.js, QGIS) resolves those without a user-defined projection.

import {
  AngularUnitDegree,
  FieldType,
  GeoKey,
  ModelType,
  RasterType,
  TiffTag
} from '../tiff/codes';
import type { IIfdEntry } from './ifd';
import type { ICrs, CrsKind, GeoTransform } from './types';

/**
 * Geographic 2D CRSs a user of this workbench is likely to meet (WGS 84, Korea 2000 and its
 * predecessors, ETRS89, NAD83, JGD2000/2011, CGCS2000, GDA94). Any other code needs `kind`.
 */
const GEOGRAPHIC_EPSG = new Set([
  4326, 4737, 4162, 4258, 4269, 4612, 6668, 4490, 4283, 4019, 4230, 4674, 4167
]);

export function crsKind(crs: ICrs): CrsKind {
  return (
    crs.kind ?? (GEOGRAPHIC_EPSG.has(crs.epsg) ? 'geographic' : 'projected')
  );
}

/** A transform without rotation and with rows going south fits scale + tiepoint, as GDAL writes it. */
export function isNorthUp(transform: GeoTransform): boolean {
  return transform[2] === 0 && transform[4] === 0 && transform[5] < 0;
}

export function georeferenceEntries(
  crs: ICrs | null,
  transform: GeoTransform | null
): IIfdEntry[] {
  const entries: IIfdEntry[] = [];
  if (transform) {
    const [x0, xPixel, xRotation, y0, yRotation, yPixel] = transform;
    if (isNorthUp(transform)) {
      entries.push(
        {
          tag: TiffTag.ModelPixelScale,
          type: FieldType.DOUBLE,
          value: [xPixel, -yPixel, 0]
        },
        {
          tag: TiffTag.ModelTiepoint,
          type: FieldType.DOUBLE,
          value: [0, 0, 0, x0, y0, 0]
        }
      );
    } else {
      entries.push({
        tag: TiffTag.ModelTransformation,
        type: FieldType.DOUBLE,
        // prettier-ignore
        value: [
          xPixel, xRotation, 0, x0,
          yRotation, yPixel, 0, y0,
          0, 0, 0, 0,
          0, 0, 0, 1
        ]
      });
    }
  }
  if (crs) {
    entries.push({
      tag: TiffTag.GeoKeyDirectory,
      type: FieldType.SHORT,
      value: geoKeyDirectory(crs)
    });
  }
  return entries;
}

function geoKeyDirectory(crs: ICrs): number[] {
  const geographic = crsKind(crs) === 'geographic';
  // [KeyID, TIFFTagLocation (0 = value inline), Count, Value], sorted by KeyID.
  const keys: Array<[number, number]> = [
    [
      GeoKey.GTModelType,
      geographic ? ModelType.geographic : ModelType.projected
    ],
    [GeoKey.GTRasterType, RasterType.pixelIsArea]
  ];
  if (geographic) {
    keys.push(
      [GeoKey.GeographicType, crs.epsg],
      [GeoKey.GeogAngularUnits, AngularUnitDegree]
    );
  } else {
    keys.push([GeoKey.ProjectedCSType, crs.epsg]);
  }
  // Header: directory version 1, key revision 1.0, number of keys.
  const directory = [1, 1, 0, keys.length];
  for (const [id, value] of keys) {
    directory.push(id, 0, 1, value);
  }
  return directory;
}
