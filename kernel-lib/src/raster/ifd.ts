// TIFF image file directories (IFDs) as bytes, for classic TIFF and BigTIFF, little-endian.
// An IFD's size depends only on its entries' types and counts, never on their values, so the
// writer can lay out the whole file before it knows where tiles land, then encode for real.

import { FIELD_TYPE_SIZE, FieldType } from '../tiff/codes';

/** The field types this encoder writes (the reader meets all of `FieldType`). */
export type EncodedFieldType = (typeof FieldType)[
  'BYTE' | 'ASCII' | 'SHORT' | 'LONG' | 'RATIONAL' | 'UNDEFINED' | 'DOUBLE' | 'IFD' | 'LONG8' | 'IFD8'
];

/**
 * One directory entry. RATIONAL values are flattened `[numerator, denominator, ...]`; ASCII is a
 * string (the NUL terminator is added here); BYTE/UNDEFINED may be raw bytes.
 */
export interface IIfdEntry {
  tag: number;
  type: EncodedFieldType;
  value: readonly number[] | string | Uint8Array;
}

export interface ITiffFormat {
  bigTiff: boolean;
}

const TWO_POW_32 = 2 ** 32;

export function headerByteLength(format: ITiffFormat): number {
  return format.bigTiff ? 16 : 8;
}

export function encodeHeader(
  format: ITiffFormat,
  firstIfdOffset: number
): Buffer {
  const header = Buffer.alloc(headerByteLength(format));
  header.write('II', 0, 'latin1');
  if (format.bigTiff) {
    header.writeUInt16LE(43, 2);
    header.writeUInt16LE(8, 4); // bytes per offset
    header.writeUInt16LE(0, 6);
    writeUint64(header, firstIfdOffset, 8);
  } else {
    header.writeUInt16LE(42, 2);
    header.writeUInt32LE(firstIfdOffset, 4);
  }
  return header;
}

/** The type the format uses for file offsets (tile offsets, sub-IFD pointers). */
export function offsetType(format: ITiffFormat): EncodedFieldType {
  return format.bigTiff ? FieldType.LONG8 : FieldType.LONG;
}

export function ifdPointerType(format: ITiffFormat): EncodedFieldType {
  return format.bigTiff ? FieldType.IFD8 : FieldType.IFD;
}

function entryCount(entry: IIfdEntry): number {
  if (typeof entry.value === 'string') {
    return Buffer.byteLength(entry.value, 'latin1') + 1;
  }
  return entry.type === FieldType.RATIONAL
    ? entry.value.length / 2
    : entry.value.length;
}

function entryByteLength(entry: IIfdEntry): number {
  return entryCount(entry) * FIELD_TYPE_SIZE[entry.type];
}

function layoutSizes(format: ITiffFormat) {
  return format.bigTiff
    ? { count: 8, entry: 20, next: 8, inline: 8 }
    : { count: 2, entry: 12, next: 4, inline: 4 };
}

/** Bytes taken by the directory and the values too large to sit inside their entries. */
export function ifdByteLength(
  entries: readonly IIfdEntry[],
  format: ITiffFormat
): number {
  const sizes = layoutSizes(format);
  let length = sizes.count + entries.length * sizes.entry + sizes.next;
  for (const entry of entries) {
    const bytes = entryByteLength(entry);
    if (bytes > sizes.inline) {
      length = alignToWord(length) + bytes;
    }
  }
  return alignToWord(length);
}

/**
 * Encodes a directory that will sit at file offset `at` (word-aligned), followed by its
 * out-of-line values. Entries are sorted by tag, as TIFF requires.
 */
export function encodeIfd(
  entries: readonly IIfdEntry[],
  format: ITiffFormat,
  at: number,
  nextIfdOffset: number
): Buffer {
  if (at % 2 !== 0) {
    throw new RangeError(
      `an IFD must start on a word boundary, not at byte ${at}`
    );
  }
  const sorted = [...entries].sort((a, b) => a.tag - b.tag);
  const sizes = layoutSizes(format);
  const buffer = Buffer.alloc(ifdByteLength(sorted, format));
  if (format.bigTiff) {
    writeUint64(buffer, sorted.length, 0);
  } else {
    buffer.writeUInt16LE(sorted.length, 0);
  }
  let overflow = sizes.count + sorted.length * sizes.entry + sizes.next;
  sorted.forEach((entry, index) => {
    const pos = sizes.count + index * sizes.entry;
    buffer.writeUInt16LE(entry.tag, pos);
    buffer.writeUInt16LE(entry.type, pos + 2);
    writeOffset(buffer, entryCount(entry), pos + 4, format); // same width as an offset
    const valuePos = pos + 4 + (format.bigTiff ? 8 : 4);
    if (entryByteLength(entry) <= sizes.inline) {
      writeValues(buffer, entry, valuePos);
    } else {
      overflow = alignToWord(overflow);
      writeOffset(buffer, at + overflow, valuePos, format);
      writeValues(buffer, entry, overflow);
      overflow += entryByteLength(entry);
    }
  });
  writeOffset(
    buffer,
    nextIfdOffset,
    sizes.count + sorted.length * sizes.entry,
    format
  );
  return buffer;
}

function writeValues(buffer: Buffer, entry: IIfdEntry, pos: number): void {
  const { value, type } = entry;
  if (typeof value === 'string') {
    buffer.write(value, pos, 'latin1'); // the NUL terminator is already zero
    return;
  }
  const size = FIELD_TYPE_SIZE[type];
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    switch (type) {
      case FieldType.BYTE:
      case FieldType.UNDEFINED:
      case FieldType.ASCII:
        buffer.writeUInt8(v, pos + i);
        break;
      case FieldType.SHORT:
        buffer.writeUInt16LE(v, pos + i * size);
        break;
      case FieldType.LONG:
      case FieldType.IFD:
        buffer.writeUInt32LE(v, pos + i * size);
        break;
      case FieldType.RATIONAL:
        // Each half is a LONG; the pair takes 8 bytes.
        buffer.writeUInt32LE(v, pos + i * 4);
        break;
      case FieldType.DOUBLE:
        buffer.writeDoubleLE(v, pos + i * size);
        break;
      case FieldType.LONG8:
      case FieldType.IFD8:
        writeUint64(buffer, v, pos + i * size);
        break;
    }
  }
}

function writeOffset(
  buffer: Buffer,
  offset: number,
  pos: number,
  format: ITiffFormat
): void {
  if (format.bigTiff) {
    writeUint64(buffer, offset, pos);
  } else {
    buffer.writeUInt32LE(offset, pos);
  }
}

export function writeUint64(buffer: Buffer, value: number, pos: number): void {
  buffer.writeUInt32LE(value % TWO_POW_32, pos);
  buffer.writeUInt32LE(Math.floor(value / TWO_POW_32), pos + 4);
}

export function alignToWord(offset: number): number {
  return offset + (offset % 2);
}
