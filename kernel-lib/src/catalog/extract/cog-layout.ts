// Whether a TIFF is laid out as a Cloud-Optimized GeoTIFF, judged by the rules of GDAL's
// validate_cloud_optimized_geotiff.py (the reference users run), except that overviews are
// required above 512 px (GDAL only warns). Tiles past the end of the file are not a layout
// problem but a truncated file, refused before this runs.
import type { IBlockTableSummary, ITiffImage } from './tiff-image';

/** GDAL's "ghost area": structural metadata GDAL's COG driver writes right after the header. */
export interface IGhostArea {
  /** Bytes from the TIFF header's end to the end of the ghost area. */
  length: number;
  items: Record<string, string>;
}

export interface ICogLevel {
  image: ITiffImage;
  blocks: IBlockTableSummary;
}

export interface ICogInput {
  bigTiff: boolean;
  ghost: IGhostArea | null;
  /** Full resolution first, then overviews in IFD order. */
  levels: ICogLevel[];
}

export function cogProblems({ bigTiff, ghost, levels }: ICogInput): string[] {
  const problems: string[] = [];
  const [main, ...overviews] = levels;
  const big = main.image.width > 512 || main.image.height > 512;
  if (big && !main.image.tiled) {
    problems.push(
      `the image is ${main.image.width} x ${main.image.height} pixels but stored in strips, not tiles`
    );
  }
  if (big && overviews.length === 0) {
    problems.push(
      `the image is larger than 512 pixels but has no internal overviews`
    );
  }
  overviews.forEach((level, i) => {
    if (main.image.tiled && !level.image.tiled) {
      problems.push(`overview ${i} is stored in strips, not tiles`);
    }
    const previous = levels[i].image;
    if (
      level.image.width > previous.width ||
      level.image.height > previous.height
    ) {
      problems.push(
        `overview ${i} (${level.image.width} x ${level.image.height}) is larger than the level before it`
      );
    }
  });

  const headerLength = bigTiff ? 16 : 8;
  const expectedMainIfd = ghost
    ? headerLength + ghost.length + ((headerLength + ghost.length) % 2)
    : headerLength;
  if (
    main.image.ifd.offset !== headerLength &&
    main.image.ifd.offset !== expectedMainIfd
  ) {
    problems.push(
      `the main IFD is at byte ${main.image.ifd.offset}, not at the start of the file (byte ${expectedMainIfd})`
    );
  }
  if (ghost?.items.KNOWN_INCOMPATIBLE_EDITION === 'YES') {
    problems.push(
      'GDAL marked the file KNOWN_INCOMPATIBLE_EDITION=YES: it was edited after being written as a COG'
    );
  }
  for (let i = 1; i < levels.length; i++) {
    if (levels[i].image.ifd.offset < levels[i - 1].image.ifd.offset) {
      problems.push(
        `the IFD of overview ${i - 1} (byte ${levels[i].image.ifd.offset}) comes before the IFD of the level above it`
      );
    }
  }

  const lastIfd = Math.max(...levels.map(level => level.image.ifd.offset));
  const firstData = Math.min(
    ...levels.map(level => level.blocks.minOffset).filter(offset => offset > 0)
  );
  if (Number.isFinite(firstData) && firstData < lastIfd) {
    problems.push(
      `image data starts at byte ${firstData}, before the last IFD (byte ${lastIfd}): IFDs are not all at the start`
    );
  }
  // Smallest overview's data first, full resolution last, so zooming in reads forward.
  for (let i = levels.length - 1; i > 0; i--) {
    const smaller = levels[i].blocks.firstOffset;
    const larger = levels[i - 1].blocks.firstOffset;
    if (smaller > 0 && larger > 0 && larger < smaller) {
      problems.push(
        i === 1
          ? `full-resolution data (byte ${larger}) comes before the data of overview 0 (byte ${smaller})`
          : `the data of overview ${i - 2} (byte ${larger}) comes before the data of overview ${i - 1} (byte ${smaller})`
      );
    }
  }
  if (ghost?.items.BLOCK_ORDER === 'ROW_MAJOR') {
    levels.forEach((level, i) => {
      if (level.blocks.complete && !level.blocks.rowMajor) {
        problems.push(
          `${i === 0 ? 'full-resolution' : `overview ${i - 1}`} tiles are not in row-major order, as the file declares`
        );
      }
    });
  }
  return problems;
}

/** Parses GDAL's "GDAL_STRUCTURAL_METADATA_SIZE=nnnnnn bytes\n" block after the header. */
export function parseGhostArea(bytes: Uint8Array): IGhostArea | null {
  const prefix = 'GDAL_STRUCTURAL_METADATA_SIZE=';
  const head = Buffer.from(
    bytes.buffer,
    bytes.byteOffset,
    Math.min(bytes.length, 43)
  ).toString('latin1');
  const match = /^GDAL_STRUCTURAL_METADATA_SIZE=(\d{6}) bytes\n/.exec(head);
  if (!match || !head.startsWith(prefix)) {
    return null;
  }
  const size = Number(match[1]);
  const body = Buffer.from(
    bytes.buffer,
    bytes.byteOffset + match[0].length,
    Math.min(size, bytes.length - match[0].length)
  ).toString('latin1');
  const items: Record<string, string> = {};
  for (const line of body.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) {
      items[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
  }
  return { length: match[0].length + size, items };
}
