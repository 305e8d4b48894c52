// Bad input: every file no reader can use is refused with InvalidRasterError and a reason that
// names what is wrong; files that are readable but break policy come back with the finding for
// the ingest suite. No input may hang the extractor or make it read without bound.
import { describe, expect, it } from 'vitest';

import {
  extractMetadata,
  cachedByteSource,
  type IExtractOptions
} from '../../../../kernel-lib/src/catalog/extract';
import type { IImageMetadata } from '../../../../kernel-lib/src/catalog/types';
import { InvalidRasterError } from '../../../../kernel-lib/src/errors';
import { writeGeoTiff } from '../../../../kernel-lib/src/raster';
import {
  encodeHeader,
  encodeIfd,
  ifdByteLength,
  type IIfdEntry
} from '../../../../kernel-lib/src/raster/ifd';
import { FieldType } from '../../../../kernel-lib/src/tiff/codes';
import {
  generateBadFiles,
  type BadFileKind
} from '../../../../kernel-lib/src/synth';
import { testRaster } from '../../raster/test-raster';

function sourceOf(key: string, bytes: Uint8Array) {
  return cachedByteSource(key, bytes.length, async (offset, length) =>
    bytes.subarray(offset, offset + length)
  );
}

function extract(
  key: string,
  bytes: Uint8Array,
  options: IExtractOptions = {}
): Promise<IImageMetadata> {
  return extractMetadata(
    sourceOf(key, bytes),
    { key, size: bytes.length, etag: 'e' },
    { sha256: false, ...options }
  );
}

/** The InvalidRasterError an extraction throws, or a failed expectation when it succeeds. */
async function rejection(
  key: string,
  bytes: Uint8Array,
  options?: IExtractOptions
): Promise<{ code: string; reason: string }> {
  try {
    await extract(key, bytes, options);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRasterError);
    const context = (error as InvalidRasterError).context as {
      code: string;
      reason: string;
      key: string;
    };
    expect(context.key).toBe(key);
    expect((error as Error).message).toContain(context.reason);
    return context;
  }
  throw new Error(`${key} was accepted`);
}

const u32 = (bytes: Uint8Array, at: number) =>
  Buffer.from(bytes.buffer, bytes.byteOffset).readUInt32LE(at);

/** A small classic TIFF written by our COG writer, with IFD offsets read per the TIFF spec. */
function smallCog(size = 600) {
  const bytes = writeGeoTiff(testRaster(size, size, 1, 'uint8'), {
    crs: { epsg: 5186 },
    transform: [200000, 1, 0, 550000, 0, -1]
  });
  const ifds: number[] = [];
  for (
    let at = u32(bytes, 4);
    at !== 0;
    at = u32(bytes, at + 2 + bytes.readUInt16LE(at) * 12)
  ) {
    ifds.push(at);
  }
  const nextPointer = (ifd: number) => ifd + 2 + bytes.readUInt16LE(ifd) * 12;
  return { bytes, ifds, nextPointer };
}

/** A classic TIFF holding one IFD with these entries and `data` after it. */
function tiffWith(
  entries: (dataOffset: number) => IIfdEntry[],
  data = Buffer.alloc(64)
): Buffer {
  const format = { bigTiff: false };
  const dataOffset = 8 + ifdByteLength(entries(0), format);
  return Buffer.concat([
    encodeHeader(format, 8),
    encodeIfd(entries(dataOffset), format, 8, 0),
    data
  ]);
}

function declared(
  width: number,
  height: number,
  tiled: boolean
): (dataOffset: number) => IIfdEntry[] {
  const long = (tag: number, value: number[]): IIfdEntry => ({
    tag,
    type: FieldType.LONG,
    value
  });
  return dataOffset => [
    long(256, [width]),
    long(257, [height]),
    { tag: 258, type: FieldType.SHORT, value: [8] },
    { tag: 259, type: FieldType.SHORT, value: [8] },
    { tag: 277, type: FieldType.SHORT, value: [1] },
    ...(tiled
      ? [
          long(322, [256]),
          long(323, [256]),
          long(324, [dataOffset]),
          long(325, [64])
        ]
      : [long(273, [dataOffset]), long(278, [height]), long(279, [64])])
  ];
}

describe('the bad files of synth.generateBadFiles()', () => {
  const files = generateBadFiles();
  const file = (kind: BadFileKind) => files.find(f => f.kind === kind)!;

  it('truncated: refused as truncated, with where the file ends and where its tiles end', async () => {
    const bad = file('truncated');
    const { code, reason } = await rejection(bad.name, bad.bytes);
    expect(code).toBe('truncated');
    expect(reason).toMatch(
      new RegExp(
        `file is truncated: it ends at byte ${bad.bytes.length}, but the tile data of .* runs to byte \\d+`
      )
    );
  });

  it('wrong magic: refused as an unsupported format, naming the bytes found', async () => {
    const bad = file('bad-magic');
    const { code, reason } = await rejection(bad.name, bad.bytes);
    expect(code).toBe('unsupported-format');
    expect(reason).toBe(
      'starts with bytes 58 58 2a 00, not a TIFF, BigTIFF, JPEG or PNG signature'
    );
  });

  it('absurd dimensions: refused before anything is sized by them', async () => {
    const bad = file('absurd-dimensions');
    const { code, reason } = await rejection(bad.name, bad.bytes);
    expect(code).toBe('absurd-dimensions');
    expect(reason).toContain(
      'header declares 10000000 x 10000000 pixels x 1 band of 8 bits (100 TB uncompressed)'
    );
    expect(reason).toContain(`in a file of ${bad.bytes.length} bytes`);
  });

  it('no georeference: read, with no CRS, transform or polygon, and the finding named', async () => {
    const bad = file('no-georeference');
    const metadata = await extract(bad.name, bad.bytes);
    expect(metadata.crs).toBeNull();
    expect(metadata.transform).toBeNull();
    expect(metadata.gsd).toBeNull();
    expect(metadata.footprint?.type ?? 'Point').toBe('Point'); // at most the camera position
    expect(metadata.extra.problems).toContain(
      'no georeference: no CRS and no geotransform, so the image cannot be placed on a map'
    );
  });

  it('GSD 5 m and GPS latitude 123: read as they are, for the ingest suite to judge', async () => {
    const coarse = await extract('gsd-5m.tif', file('gsd-too-coarse').bytes);
    expect(coarse.gsd!.x).toBeCloseTo(5, 9);
    expect(coarse.gsd!.y).toBeCloseTo(5, 9);
    const gps = await extract('gps.tif', file('gps-out-of-range').bytes);
    expect(gps.gps).toEqual({ lat: 123, lon: 127, alt: 240 });
    expect(gps.footprint!.type).toBe('Polygon'); // placed by its geotransform, not by the bad GPS
    expect(gps.extra.problems).toContain(
      'EXIF GPS position (123, 127) is outside -90..90, -180..180'
    );
  });
});

describe('corrupt structures', () => {
  it('a zero-byte object', async () => {
    expect(await rejection('empty.tif', new Uint8Array(0))).toEqual({
      key: 'empty.tif',
      code: 'empty',
      reason: 'the object is empty (0 bytes): the upload wrote no data'
    });
  });

  it('an IFD that points to itself, and a chain that loops back to the first IFD', async () => {
    const { bytes, ifds, nextPointer } = smallCog();
    expect(ifds.length).toBeGreaterThanOrEqual(2);
    const self = Buffer.from(bytes);
    self.writeUInt32LE(ifds[0], nextPointer(ifds[0]));
    const selfLoop = await rejection('self-loop.tif', self);
    expect(selfLoop.code).toBe('ifd-loop');
    expect(selfLoop.reason).toBe(
      `the image directory chain loops: IFD 0 points back to byte ${ifds[0]}, where IFD 0 is`
    );

    const back = Buffer.from(bytes);
    back.writeUInt32LE(ifds[0], nextPointer(ifds[ifds.length - 1]));
    const loop = await rejection('loop.tif', back);
    expect(loop.code).toBe('ifd-loop');
    expect(loop.reason).toContain(
      `IFD ${ifds.length - 1} points back to byte ${ifds[0]}, where IFD 0 is`
    );
  });

  it('a 10^7 x 10^7 tiled declaration: refused by the pixel limit, then by the tile-table limit', async () => {
    const bytes = tiffWith(declared(1e7, 1e7, true));
    const byPixels = await rejection('huge.tif', bytes);
    expect(byPixels.code).toBe('absurd-dimensions');
    expect(byPixels.reason).toContain(
      'header declares 10000000 x 10000000 pixels'
    );

    const byTiles = await rejection('huge.tif', bytes, {
      limits: { maxPixels: 1e15 }
    });
    expect(byTiles.code).toBe('absurd-dimensions');
    expect(byTiles.reason).toContain(
      'in 1525917969 tiles of 256 x 256, more than the 16777216 a tile table may hold'
    );

    const byTable = await rejection('huge.tif', bytes, {
      limits: { maxPixels: 1e15, maxBlocks: 2e9 }
    });
    expect(byTable.code).toBe('corrupt');
    expect(byTable.reason).toBe(
      'the image needs 1525917969 tiles for 10000000 x 10000000 pixels, but its TileOffsets lists 1'
    );
  });

  it('an uncompressed strip shorter than the rows it declares', async () => {
    const bytes = tiffWith(dataOffset =>
      declared(
        4000,
        3000,
        false
      )(dataOffset).map(e => (e.tag === 259 ? { ...e, value: [1] } : e))
    );
    const { code, reason } = await rejection('short-strip.tif', bytes);
    expect(code).toBe('absurd-dimensions');
    expect(reason).toBe(
      'header declares 4000 x 3000 pixels uncompressed, so its first strip needs 12.0 MB, but it holds 64 bytes'
    );
  });

  it('a header cut short inside the first IFD', async () => {
    const { bytes, ifds } = smallCog();
    const { code, reason } = await rejection(
      'cut.tif',
      bytes.subarray(0, ifds[0] + 40)
    );
    expect(code).toBe('truncated');
    expect(reason).toMatch(
      /^file is truncated: IFD 0 at byte \d+ has \d+ tags that run past the end \(byte \d+\)$/
    );
  });

  it('an IFD declaring 60,000 tags', async () => {
    const { bytes, ifds } = smallCog();
    const bad = Buffer.from(bytes);
    bad.writeUInt16LE(60000, ifds[0]);
    const { code, reason } = await rejection('tags.tif', bad);
    expect(code).toBe('limit-exceeded');
    expect(reason).toBe(
      `IFD 0 at byte ${ifds[0]} declares 60000 tags, more than the 4096 a real image has: the file is corrupt`
    );
  });

  it('a first IFD offset past the end of the file', async () => {
    const bad = Buffer.from(smallCog().bytes.subarray(0, 4096));
    bad.writeUInt32LE(1e9, 4);
    const { code, reason } = await rejection('far.tif', bad);
    expect(code).toBe('truncated');
    expect(reason).toBe(
      'file is truncated: the first IFD should be at byte 1000000000, but the file ends at byte 4096'
    );
  });

  it('a header larger than the byte budget', async () => {
    const { code, reason } = await rejection('budget.tif', smallCog().bytes, {
      headerByteBudget: 200
    });
    expect(code).toBe('limit-exceeded');
    expect(reason).toMatch(
      /^reading the header needs more than 200 bytes \(while reading .*\); raise headerByteBudget if the file is genuine$/
    );
  });

  it('text uploaded in place of an image', async () => {
    const { code, reason } = await rejection(
      'error.tif',
      Buffer.from(
        '<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>'
      )
    );
    expect(code).toBe('unsupported-format');
    expect(reason).toBe(
      'starts with bytes 3c 3f 78 6d, not a TIFF, BigTIFF, JPEG or PNG signature; it looks like text or XML/HTML (an error page saved in place of the image?)'
    );
  });

  it('64-bit integer samples: refused as unsupported, not misread', async () => {
    const bytes = tiffWith(dataOffset =>
      declared(
        16,
        16,
        false
      )(dataOffset).map(e =>
        e.tag === 258
          ? { ...e, value: [64] }
          : e.tag === 259
            ? { ...e, value: [1] }
            : e
      )
    );
    const { code, reason } = await rejection(
      'int64.tif',
      Buffer.concat([bytes, Buffer.alloc(2048)])
    );
    expect(code).toBe('unsupported');
    expect(reason).toBe(
      'samples are 64-bit unsigned integers, a data type the catalog does not support'
    );
  });
});

describe('no input hangs the extractor or reads without bound', () => {
  // A seeded generator, so a failure reproduces.
  function random(seed: number) {
    let state = seed >>> 0;
    return () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
  }

  it('random damage to a COG header either reads or fails with InvalidRasterError, quickly', async () => {
    const { bytes } = smallCog();
    const next = random(20240315);
    const headerEnd = 2048;
    let refused = 0;
    for (let trial = 0; trial < 400; trial++) {
      const damaged = Buffer.from(bytes);
      const flips = 1 + Math.floor(next() * 8);
      for (let i = 0; i < flips; i++) {
        damaged[Math.floor(next() * headerEnd)] = Math.floor(next() * 256);
      }
      const started = performance.now();
      const source = sourceOf(`fuzz-${trial}.tif`, damaged);
      try {
        await extractMetadata(
          source,
          { key: `fuzz-${trial}.tif`, size: damaged.length, etag: 'e' },
          { sha256: false }
        );
      } catch (error) {
        if (!(error instanceof InvalidRasterError)) {
          throw new Error(`trial ${trial}: ${(error as Error).stack}`);
        }
        refused++;
      }
      expect(performance.now() - started).toBeLessThan(2000);
      expect(source.stats.bytes).toBeLessThanOrEqual(
        16 * 1024 * 1024 + 256 * 1024
      );
    }
    expect(refused).toBeGreaterThan(20);
  });

  it('every truncation of a COG is read or refused as truncated', async () => {
    const { bytes } = smallCog(300);
    for (let length = 1; length < bytes.length; length += 53) {
      try {
        await extract('cut.tif', bytes.subarray(0, length));
        throw new Error(`a ${length}-byte prefix was accepted`);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidRasterError);
        expect((error as InvalidRasterError).context.code).toMatch(
          /^(truncated|unsupported-format)$/
        );
      }
    }
  });
});
