/**
 * Decodes CDC's __$update_mask into the captured columns it marks as updated.
 *
 * The mask is a varbinary whose bits are indexed by the column ordinal in the capture
 * instance (cdc.captured_columns.column_ordinal, the same number
 * sys.fn_cdc_get_column_ordinal returns). It is big-endian: the bit for ordinal n is bit
 * (n - 1) counted from the least-significant bit of the LAST byte, so ordinal 1 is
 * 0x01 of the last byte, ordinal 9 is 0x01 of the byte before it, and a table with more
 * than 8 captured columns has a mask of ceil(columns / 8) bytes. A mask shorter than the
 * highest ordinal (never seen from SQL Server, but cheap to tolerate) reads as 0 there.
 */
import { DataError } from '../../errors.js';

export interface CapturedColumn {
  name: string;
  /** 1-based ordinal in the capture instance. */
  ordinal: number;
}

export class UpdateMaskDecoder {
  private readonly columns: CapturedColumn[];

  constructor(columns: readonly CapturedColumn[]) {
    for (const c of columns) {
      if (!Number.isInteger(c.ordinal) || c.ordinal < 1) throw new DataError(`captured column "${c.name}" has an invalid ordinal ${c.ordinal}`);
    }
    this.columns = [...columns].sort((a, b) => a.ordinal - b.ordinal);
  }

  /** True when the mask marks the column of this ordinal as updated. */
  static isSet(mask: Buffer, ordinal: number): boolean {
    const bit = ordinal - 1;
    const byteIndex = mask.length - 1 - Math.floor(bit / 8);
    if (byteIndex < 0) return false;
    return ((mask[byteIndex]! >> (bit % 8)) & 1) === 1;
  }

  /** The names of the columns the mask marks, in ordinal order. */
  decode(mask: Buffer): string[] {
    return this.columns.filter((c) => UpdateMaskDecoder.isSet(mask, c.ordinal)).map((c) => c.name);
  }

  /** Build a mask for the given ordinals (the inverse of decode; used to check round trips). */
  static encode(ordinals: readonly number[], width: number): Buffer {
    const mask = Buffer.alloc(width);
    for (const o of ordinals) {
      const bit = o - 1;
      const byteIndex = width - 1 - Math.floor(bit / 8);
      if (byteIndex < 0) throw new DataError(`ordinal ${o} does not fit a ${width}-byte update mask`);
      mask[byteIndex] = mask[byteIndex]! | (1 << (bit % 8));
    }
    return mask;
  }
}
