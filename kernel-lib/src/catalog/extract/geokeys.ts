// The GeoKey directory: GeoTIFF's small key-value store that names the CRS. Keys hold a SHORT
// inline, or point into GeoDoubleParams or GeoAsciiParams. Malformed directories are common in
// the wild, so bad keys are skipped (and counted) rather than failing the file.
import { TiffTag } from '../../tiff/codes';

export type GeoKeyValue = number | number[] | string;

export interface IGeoKeys {
  version: string;
  keys: Map<number, GeoKeyValue>;
  /** Keys whose value could not be found (out-of-range index, unknown location). */
  malformed: number;
}

export function parseGeoKeys(
  directory: number[],
  doubles: number[],
  ascii: string
): IGeoKeys {
  const keys = new Map<number, GeoKeyValue>();
  let malformed = 0;
  const [version = 0, revision = 0, minor = 0, declared = 0] = directory;
  const count = Math.min(declared, Math.floor((directory.length - 4) / 4));
  if (count < declared) {
    malformed += declared - count;
  }
  for (let i = 0; i < count; i++) {
    const [id, location, valueCount, value] = directory.slice(
      4 + i * 4,
      8 + i * 4
    );
    if (location === 0) {
      keys.set(id, value);
    } else if (
      location === TiffTag.GeoDoubleParams &&
      value + valueCount <= doubles.length
    ) {
      keys.set(
        id,
        valueCount === 1
          ? doubles[value]
          : doubles.slice(value, value + valueCount)
      );
    } else if (
      location === TiffTag.GeoAsciiParams &&
      value + valueCount <= ascii.length + 1
    ) {
      // Strings end with '|' in place of NUL; GDAL strips it.
      keys.set(
        id,
        ascii.slice(value, value + valueCount).replace(/[|\0]+$/, '')
      );
    } else if (
      location === TiffTag.GeoKeyDirectory &&
      value + valueCount <= directory.length
    ) {
      keys.set(
        id,
        valueCount === 1
          ? directory[value]
          : directory.slice(value, value + valueCount)
      );
    } else {
      malformed++;
    }
  }
  return { version: `${version}.${revision}.${minor}`, keys, malformed };
}

export function numberKey(geo: IGeoKeys, id: number): number | undefined {
  const value = geo.keys.get(id);
  if (typeof value === 'number') {
    return value;
  }
  return Array.isArray(value) && value.length > 0 ? value[0] : undefined;
}

export function textKey(geo: IGeoKeys, id: number): string | undefined {
  const value = geo.keys.get(id);
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
