/**
 * How one record is laid out in a segment file (all integers little-endian):
 *
 *   frame header (8 bytes)  u32 bodyLength   bytes of the body that follows
 *                           u32 crc32        zlib CRC-32 of the body
 *   body                    u8  magic        format version, 1
 *                           u32 timestampLo  append time in ms since epoch, low 32 bits
 *                           u32 timestampHi  high bits
 *                           i32 keyLength    -1 for no key
 *                           key bytes (UTF-8)
 *                           value bytes      the rest of the body, exactly as sent
 *
 * Offsets are not stored: a record's offset is its segment's base offset (the file name) plus its
 * index in the file. A frame whose length or CRC does not check out is either a torn tail (a write
 * cut short, never acknowledged) or corruption; the caller decides which from where it sits.
 */
import { crc32 } from 'node:zlib';
import type { BusRecord, OutgoingMessage } from '../types.ts';

export const FRAME_HEADER_BYTES = 8;
export const BODY_HEADER_BYTES = 13;
export const RECORD_OVERHEAD_BYTES = FRAME_HEADER_BYTES + BODY_HEADER_BYTES;
/** Largest body accepted: bigger length fields are treated as garbage. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
const MAGIC = 1;
const TWO_POW_32 = 2 ** 32;

/** `checkFrame` result: the bytes up to the limit end inside this frame. */
export const INCOMPLETE = -1;
/** `checkFrame` result: the frame is not a valid record (bad length, CRC, magic or key length). */
export const INVALID = -2;

/** Records of one `send` call for one partition, encoded back to back. */
export interface EncodedBatch {
  buf: Buffer;
  /** ends[i] is the byte position in `buf` just after record i. */
  ends: number[];
  /** Append time stamped into every record of the batch. */
  timestamp: number;
}

/** Encodes messages into one buffer, each framed and checksummed. */
export function encodeRecords(messages: readonly OutgoingMessage[], timestamp: number): EncodedBatch {
  const count = messages.length;
  const keyBytes = new Array<number>(count);
  const valueBytes = new Array<number>(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const m = messages[i]!;
    const k = Buffer.byteLength(m.key, 'utf8');
    const v = typeof m.value === 'string' ? Buffer.byteLength(m.value, 'utf8') : m.value.length;
    const body = BODY_HEADER_BYTES + k + v;
    if (body > MAX_BODY_BYTES) {
      throw new RangeError(
        `message with key "${m.key}" is ${v} bytes: the embedded log takes at most ${MAX_BODY_BYTES - BODY_HEADER_BYTES - k} bytes of value`,
      );
    }
    keyBytes[i] = k;
    valueBytes[i] = v;
    total += FRAME_HEADER_BYTES + body;
  }
  const buf = Buffer.allocUnsafe(total);
  const ends = new Array<number>(count);
  const lo = timestamp >>> 0;
  const hi = Math.floor(timestamp / TWO_POW_32);
  let pos = 0;
  for (let i = 0; i < count; i++) {
    const m = messages[i]!;
    const k = keyBytes[i]!;
    const v = valueBytes[i]!;
    const bodyStart = pos + FRAME_HEADER_BYTES;
    const bodyLength = BODY_HEADER_BYTES + k + v;
    buf.writeUInt32LE(bodyLength, pos);
    buf[bodyStart] = MAGIC;
    buf.writeUInt32LE(lo, bodyStart + 1);
    buf.writeUInt32LE(hi, bodyStart + 5);
    buf.writeInt32LE(k, bodyStart + 9);
    let p = bodyStart + BODY_HEADER_BYTES;
    if (k > 0) p += buf.write(m.key, p, k, 'utf8');
    if (typeof m.value === 'string') buf.write(m.value, p, v, 'utf8');
    else m.value.copy(buf, p);
    const end = bodyStart + bodyLength;
    buf.writeUInt32LE(crc32(buf.subarray(bodyStart, end)), pos + 4);
    ends[i] = end;
    pos = end;
  }
  return { buf, ends, timestamp };
}

/**
 * Checks the frame starting at `pos`, reading no further than `limit`. Returns its total size in
 * bytes when it is a complete valid record, else INCOMPLETE or INVALID.
 */
export function checkFrame(buf: Buffer, pos: number, limit: number): number {
  if (limit - pos < FRAME_HEADER_BYTES) return INCOMPLETE;
  const bodyLength = buf.readUInt32LE(pos);
  if (bodyLength < BODY_HEADER_BYTES || bodyLength > MAX_BODY_BYTES) return INVALID;
  const bodyStart = pos + FRAME_HEADER_BYTES;
  const end = bodyStart + bodyLength;
  if (end > limit) return INCOMPLETE;
  if (buf[bodyStart] !== MAGIC) return INVALID;
  const keyLength = buf.readInt32LE(bodyStart + 9);
  if (keyLength < -1 || keyLength > bodyLength - BODY_HEADER_BYTES) return INVALID;
  if (crc32(buf.subarray(bodyStart, end)) !== buf.readUInt32LE(pos + 4)) return INVALID;
  return FRAME_HEADER_BYTES + bodyLength;
}

/** Bytes needed to hold the whole frame starting at `pos`, as far as its header tells. */
export function frameBytesNeeded(buf: Buffer, pos: number, limit: number): number {
  if (limit - pos < FRAME_HEADER_BYTES) return FRAME_HEADER_BYTES;
  const bodyLength = buf.readUInt32LE(pos);
  return bodyLength <= MAX_BODY_BYTES ? FRAME_HEADER_BYTES + bodyLength : FRAME_HEADER_BYTES;
}

/** Append time of the (already checked) frame at `pos`. */
export function frameTimestamp(buf: Buffer, pos: number): number {
  return buf.readUInt32LE(pos + 13) * TWO_POW_32 + buf.readUInt32LE(pos + 9);
}

/**
 * Builds the record for a checked frame of `size` bytes at `pos`. The value is a view into `buf`,
 * so `buf` must never be reused for other bytes.
 */
export function decodeFrame(
  buf: Buffer,
  pos: number,
  size: number,
  partition: number,
  offset: number,
): BusRecord {
  const bodyStart = pos + FRAME_HEADER_BYTES;
  const keyLength = buf.readInt32LE(bodyStart + 9);
  const keyStart = bodyStart + BODY_HEADER_BYTES;
  const valueStart = keyLength > 0 ? keyStart + keyLength : keyStart;
  return {
    partition,
    offset,
    key: keyLength < 0 ? null : buf.toString('utf8', keyStart, valueStart),
    value: buf.subarray(valueStart, pos + size),
    timestamp: buf.readUInt32LE(bodyStart + 5) * TWO_POW_32 + buf.readUInt32LE(bodyStart + 1),
  };
}
