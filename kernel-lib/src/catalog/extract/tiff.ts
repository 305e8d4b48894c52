// Everything the catalog wants from a TIFF or BigTIFF header: the image structure, overviews,
// COG layout, GeoKeys, model tags, GDAL's nodata and metadata tags, and EXIF. Reads start at
// byte 0 and follow offsets; in a COG all of it sits in the first block the byte source fetches.
import type { HeaderReader } from './header-reader';
import {
  cogProblems,
  parseGhostArea,
  type ICogLevel,
  type IGhostArea
} from './cog-layout';
import { readExif, recoverable } from './exif';
import { parseGeoKeys, numberKey, type IGeoKeys } from './geokeys';
import { geoTransformOf } from './geotransform';
import type { IImageHeader } from './image-header';
import { invalidRaster } from './invalid-raster';
import { TiffReader, type IIfd, type ITiffLimits } from './tiff-ifd';
import {
  blockBytes,
  dataTypeOf,
  formatBytes,
  isMask,
  isOverview,
  readImage,
  summarizeBlocks,
  type IImageLimits,
  type ITiffImage
} from './tiff-image';
import { GeoKey, RasterType, SubfileType, TiffTag } from '../../tiff/codes';

export type ITiffReadLimits = ITiffLimits & IImageLimits;

export async function readTiff(
  reader: HeaderReader,
  limits: ITiffReadLimits
): Promise<IImageHeader> {
  const tiff = await TiffReader.open(reader, limits);
  const ifds = await tiff.readChain();
  const problems: string[] = [];
  const main = await readImage(tiff, ifds[0], limits);
  const dataType = dataTypeOf(reader.key, main);

  const overviews: ITiffImage[] = [];
  const masks: ITiffImage[] = [];
  let pages = 0;
  for (const ifd of ifds.slice(1)) {
    const subfileType = (await tiff.first(
      ifd,
      TiffTag.NewSubfileType,
      'NewSubfileType',
      0
    ))!;
    if ((subfileType & (SubfileType.reducedImage | SubfileType.mask)) === 0) {
      pages++; // another page or subdataset: not part of this image, not checked
      continue;
    }
    // Overviews and masks are read by every viewer that opens the image: they must be sound.
    const image = await readImage(tiff, ifd, limits);
    if (isMask(image)) {
      masks.push(image);
    } else if (isOverview(image, main)) {
      overviews.push(image);
    } else {
      problems.push(
        `IFD ${ifd.index} is a reduced-resolution image that does not match the main image; ignored`
      );
    }
  }

  const levels: ICogLevel[] = [];
  for (const image of [main, ...overviews]) {
    levels.push({ image, blocks: await summarizeBlocks(tiff, image, limits) });
  }
  const maskLevels = await Promise.all(
    masks.map(async image => ({
      image,
      blocks: await summarizeBlocks(tiff, image, limits)
    }))
  );
  for (const [index, level] of [...levels, ...maskLevels].entries()) {
    if (level.blocks.maxEnd > reader.size) {
      const what =
        index === 0
          ? 'the full-resolution image'
          : index < levels.length
            ? `overview ${index - 1}`
            : 'the mask';
      throw invalidRaster(
        reader.key,
        'truncated',
        `file is truncated: it ends at byte ${reader.size}, but the ${main.tiled ? 'tile' : 'strip'} data of ${what} runs to byte ${level.blocks.maxEnd} (an interrupted upload?)`,
        { size: reader.size, dataEnd: level.blocks.maxEnd }
      );
    }
  }
  if (
    main.compressionCode === 1 &&
    levels[0].blocks.firstByteCount > 0 &&
    levels[0].blocks.firstByteCount < blockBytes(main)
  ) {
    throw invalidRaster(
      reader.key,
      'absurd-dimensions',
      `header declares ${main.width} x ${main.height} pixels uncompressed, so its first ${main.tiled ? 'tile' : 'strip'} needs ${formatBytes(blockBytes(main))}, but it holds ${levels[0].blocks.firstByteCount} bytes`,
      { width: main.width, height: main.height }
    );
  }

  const ghost = await readGhostArea(tiff, ifds[0]);
  const geoKeys = await readGeoKeys(tiff, ifds[0], problems);
  const numbersOf = async (tag: number, name: string) => {
    const entry = ifds[0].entries.get(tag);
    return entry ? tiff.numbers(entry, name) : null;
  };
  const georeference = geoTransformOf({
    pixelScale: await numbersOf(TiffTag.ModelPixelScale, 'ModelPixelScale'),
    tiepoints: await numbersOf(TiffTag.ModelTiepoint, 'ModelTiepoint'),
    transformation: await numbersOf(
      TiffTag.ModelTransformation,
      'ModelTransformation'
    ),
    pixelIsPoint:
      geoKeys !== null &&
      numberKey(geoKeys, GeoKey.GTRasterType) === RasterType.pixelIsPoint
  });
  if (georeference.problem) {
    problems.push(georeference.problem);
  }
  const nodata = await readNodata(tiff, ifds[0], problems);
  const exif = await readExif(tiff, ifds[0]);
  problems.push(...exif.problems);

  const text = async (tag: number, name: string, max = 1024) => {
    const entry = ifds[0].entries.get(tag);
    if (!entry) {
      return undefined;
    }
    try {
      return (await tiff.text(entry, name)).trim().slice(0, max) || undefined;
    } catch (error) {
      problems.push(`${name} could not be read: ${recoverable(error)}`);
      return undefined;
    }
  };
  const gdalMetadata = parseGdalMetadata(
    (await text(TiffTag.GdalMetadata, 'GDAL_METADATA', 256 * 1024)) ?? ''
  );
  const predictor = await tiff.first(ifds[0], TiffTag.Predictor, 'Predictor');

  const extra: Record<string, unknown> = {
    byteOrder: tiff.header.littleEndian ? 'little-endian' : 'big-endian',
    ifdCount: ifds.length,
    photometric: main.photometric,
    planarConfiguration: main.planar === 2 ? 'separate' : 'contiguous',
    bitsPerSample: main.bitsPerSample,
    overviewSizes: overviews.map(o => [o.width, o.height]),
    ...(predictor !== undefined && predictor !== 1 ? { predictor } : {}),
    ...(masks.length ? { maskBand: true } : {}),
    ...(pages ? { pages } : {}),
    ...(ghost ? { gdalStructuralMetadata: ghost.items } : {}),
    ...(gdalMetadata.dataset ? { gdalMetadata: gdalMetadata.dataset } : {}),
    ...(gdalMetadata.bands ? { gdalBandMetadata: gdalMetadata.bands } : {}),
    ...(geoKeys
      ? {
          geoKeys: Object.fromEntries(
            [...geoKeys.keys].map(([id, value]) => [String(id), value])
          )
        }
      : {}),
    ...(georeference.transform === null && 'gcpCount' in georeference
      ? { gcpCount: georeference.gcpCount }
      : {})
  };
  for (const [tag, name] of [
    [TiffTag.Software, 'software'],
    [TiffTag.ImageDescription, 'imageDescription'],
    [TiffTag.Artist, 'artist'],
    [TiffTag.Copyright, 'copyright']
  ] as const) {
    const value = await text(tag, name);
    if (value !== undefined) {
      extra[name] = value;
    }
  }

  return {
    format: tiff.header.bigTiff ? 'BigTIFF' : 'GTiff',
    width: main.width,
    height: main.height,
    bands: main.samplesPerPixel,
    dataType,
    nodata,
    compression: main.compression,
    tiled: main.tiled,
    blockSize: [main.blockWidth, main.blockHeight],
    overviews: overviews.length,
    ...cogVerdict(cogProblems({ bigTiff: tiff.header.bigTiff, ghost, levels })),
    geoKeys,
    georeference,
    exif,
    extra,
    problems
  };
}

function cogVerdict(problems: string[]) {
  return { isCog: problems.length === 0, cogProblems: problems };
}

async function readGhostArea(
  tiff: TiffReader,
  ifd0: IIfd
): Promise<IGhostArea | null> {
  const start = tiff.header.bigTiff ? 16 : 8;
  const room = Math.min(ifd0.offset - start, 4096);
  if (room < 43) {
    return null;
  }
  return parseGhostArea(
    await tiff.reader.bytes(start, room, "GDAL's structural metadata")
  );
}

async function readGeoKeys(
  tiff: TiffReader,
  ifd0: IIfd,
  problems: string[]
): Promise<IGeoKeys | null> {
  const directory = ifd0.entries.get(TiffTag.GeoKeyDirectory);
  if (!directory) {
    return null;
  }
  const doubles = ifd0.entries.get(TiffTag.GeoDoubleParams);
  const ascii = ifd0.entries.get(TiffTag.GeoAsciiParams);
  const geo = parseGeoKeys(
    await tiff.numbers(directory, 'GeoKeyDirectory'),
    doubles ? await tiff.numbers(doubles, 'GeoDoubleParams') : [],
    ascii ? await tiff.rawText(ascii, 'GeoAsciiParams') : ''
  );
  if (geo.malformed > 0) {
    problems.push(
      `${geo.malformed} GeoKey${geo.malformed === 1 ? '' : 's'} point outside their parameter tags and were ignored`
    );
  }
  return geo;
}

/** GDAL_NODATA is text: a number, or "nan", "inf", "-inf". */
async function readNodata(
  tiff: TiffReader,
  ifd0: IIfd,
  problems: string[]
): Promise<number | null> {
  const entry = ifd0.entries.get(TiffTag.GdalNodata);
  if (!entry) {
    return null;
  }
  const text = (await tiff.text(entry, 'GDAL_NODATA')).trim().toLowerCase();
  const special: Record<string, number> = {
    nan: Number.NaN,
    inf: Infinity,
    '+inf': Infinity,
    '-inf': -Infinity
  };
  const value =
    text in special ? special[text] : text === '' ? Number.NaN : Number(text);
  if (Number.isNaN(value) && text !== 'nan') {
    problems.push(
      `GDAL_NODATA is "${text.slice(0, 40)}", not a number; ignored`
    );
    return null;
  }
  return value;
}

interface IGdalMetadata {
  dataset: Record<string, string> | null;
  bands: Record<string, Record<string, string>> | null;
}

/** GDAL_METADATA's <GDALMetadata><Item name=".." sample=".." domain="..">value</Item>...</GDALMetadata>. */
export function parseGdalMetadata(xml: string): IGdalMetadata {
  const dataset: Record<string, string> = {};
  const bands: Record<string, Record<string, string>> = {};
  let count = 0;
  for (const match of xml.matchAll(
    /<Item\s+([^>]*?)\s*(?:\/>|>([\s\S]*?)<\/Item>)/g
  )) {
    if (++count > 1024) {
      break;
    }
    const attributes: Record<string, string> = {};
    for (const [, name, value] of match[1].matchAll(/(\w+)\s*=\s*"([^"]*)"/g)) {
      attributes[name] = unescapeXml(value);
    }
    if (!attributes.name) {
      continue;
    }
    const name = attributes.domain
      ? `${attributes.domain}:${attributes.name}`
      : attributes.name;
    const value = unescapeXml(match[2] ?? '').slice(0, 4096);
    if (attributes.sample !== undefined) {
      (bands[attributes.sample] ??= {})[
        attributes.role ? `${name} (${attributes.role})` : name
      ] = value;
    } else {
      dataset[name] = value;
    }
  }
  return {
    dataset: Object.keys(dataset).length ? dataset : null,
    bands: Object.keys(bands).length ? bands : null
  };
}

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}
