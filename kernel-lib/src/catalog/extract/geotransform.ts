// The pixel-to-CRS affine transform in GDAL's order, read from GeoTIFF's model tags the way
// GDAL reads them: scale + tiepoint for north-up grids, the 4x4 ModelTransformation for rotated
// ones, and for PixelIsPoint files the origin moved half a pixel so it names a pixel's corner.
export type GeoTransform = [number, number, number, number, number, number];

export interface IModelTags {
  pixelScale: number[] | null;
  tiepoints: number[] | null;
  transformation: number[] | null;
  pixelIsPoint: boolean;
}

export type GeoTransformResult =
  | { transform: GeoTransform; problem: null }
  | { transform: null; problem: string | null; gcpCount?: number };

export function geoTransformOf({
  pixelScale,
  tiepoints,
  transformation,
  pixelIsPoint
}: IModelTags): GeoTransformResult {
  let gt: GeoTransform | null = null;
  if (
    pixelScale &&
    pixelScale.length >= 2 &&
    pixelScale[0] !== 0 &&
    pixelScale[1] !== 0 &&
    tiepoints &&
    tiepoints.length >= 6
  ) {
    const [i, j, , x, y] = tiepoints;
    const xSize = pixelScale[0];
    const ySize = -pixelScale[1]; // the tag stores the row step positive for north-up images
    gt = [x - i * xSize, xSize, 0, y - j * ySize, 0, ySize];
  } else if (transformation && transformation.length === 16) {
    const m = transformation;
    gt = [m[3], m[0], m[1], m[7], m[4], m[5]];
  } else if (tiepoints && tiepoints.length >= 6) {
    const gcpCount = Math.floor(tiepoints.length / 6);
    return {
      transform: null,
      gcpCount,
      problem: `georeferenced by ${gcpCount} ground control point${gcpCount === 1 ? '' : 's'} rather than a geotransform; warp it to a grid to place it on a map`
    };
  } else {
    return { transform: null, problem: null };
  }
  if (pixelIsPoint) {
    gt[0] -= gt[1] * 0.5 + gt[2] * 0.5;
    gt[3] -= gt[4] * 0.5 + gt[5] * 0.5;
  }
  if (!gt.every(Number.isFinite) || gt[1] * gt[5] - gt[2] * gt[4] === 0) {
    return {
      transform: null,
      problem: `the geotransform [${gt.join(', ')}] is degenerate (zero or non-finite pixel size)`
    };
  }
  return { transform: gt, problem: null };
}

/** CRS coordinates of a pixel position (col, row), corners at integers. */
export function applyTransform(
  gt: GeoTransform,
  col: number,
  row: number
): [number, number] {
  return [gt[0] + col * gt[1] + row * gt[2], gt[3] + col * gt[4] + row * gt[5]];
}
