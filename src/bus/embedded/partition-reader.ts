/**
 * Reads one partition from its segment files, in big chunks, handing out only complete CRC-valid
 * records. Works whether the writer is this process (it then stops at the durable end the writer
 * reports) or another one (it then stops at a partial tail and tries again later).
 */
import type { FileHandle } from 'node:fs/promises';
import { RtsaError } from '../../errors.ts';
import type { BusRecord } from '../types.ts';
import type { LocalPartitionView } from './partition-log.ts';
import { checkFrame, decodeFrame, frameBytesNeeded, INVALID } from './record-format.ts';
import { listSegments, openForReading, READ_CHUNK_BYTES, segmentPath } from './segment.ts';

const EMPTY = Buffer.alloc(0);

export class PartitionReader {
  readonly partition: number;
  private readonly dir: string;
  private readonly local: () => LocalPartitionView | undefined;
  /** Offset of the next record parsed. */
  private offset = 0;
  /** Records below this offset are parsed but not handed out (seeking inside a segment). */
  private skipBelow = 0;
  private segmentBase: number | undefined;
  private file: FileHandle | undefined;
  private chunk: Buffer = EMPTY;
  /** File position of chunk[0]. */
  private chunkStart = 0;
  private chunkPos = 0;
  private chunkEnd = 0;
  /** Why parsing stopped before chunkEnd: INCOMPLETE or INVALID (0 when it did not). */
  private stop = 0;
  /** The chunk was read below the writer's durable end or from a sealed segment: its bytes are final. */
  private chunkTrusted = false;
  /** Size and mtime of the file when an unfinished tail was last read, to re-read only on change. */
  private seenSize = -1;
  private seenMtime = -1;

  constructor(dir: string, partition: number, local: () => LocalPartitionView | undefined) {
    this.dir = dir;
    this.partition = partition;
    this.local = local;
  }

  /** Offset of the next record `read` hands out. */
  get position(): number {
    return Math.max(this.offset, this.skipBelow);
  }

  /**
   * Positions the reader at `offset` (undefined: the first retained record). Throws LOG_TRUNCATED
   * when the offset is before the first retained record.
   */
  async seek(offset: number | undefined): Promise<void> {
    await this.closeFile();
    const bases = await listSegments(this.dir);
    const first = bases[0] ?? 0;
    const target = offset ?? first;
    if (target < first) throw this.truncated(target, first);
    let base = first;
    for (const b of bases) if (b <= target) base = b;
    this.segmentBase = bases.length > 0 ? base : undefined;
    this.offset = base;
    this.skipBelow = target;
  }

  /** Appends up to `max` records to `out`; returns how many (0: nothing more right now). */
  async read(max: number, out: BusRecord[]): Promise<number> {
    let n = 0;
    while (n < max) {
      if (this.chunkPos < this.chunkEnd && this.stop === 0) n += this.parse(max - n, out);
      if (n >= max) break;
      if (!(await this.refill())) break;
    }
    return n;
  }

  async close(): Promise<void> {
    await this.closeFile();
  }

  private parse(max: number, out: BusRecord[]): number {
    const buf = this.chunk;
    const end = this.chunkEnd;
    const partition = this.partition;
    const skipBelow = this.skipBelow;
    let pos = this.chunkPos;
    let offset = this.offset;
    let n = 0;
    while (n < max) {
      const size = checkFrame(buf, pos, end);
      if (size < 0) {
        this.stop = size;
        break;
      }
      if (offset >= skipBelow) {
        out.push(decodeFrame(buf, pos, size, partition, offset));
        n++;
      }
      offset++;
      pos += size;
    }
    if (pos === end) this.stop = 0;
    this.chunkPos = pos;
    this.offset = offset;
    return n;
  }

  /** Loads the next bytes to parse; false when there is nothing new yet. */
  private async refill(): Promise<boolean> {
    if (!this.file && !(await this.openSegment())) return false;
    const file = this.file!;
    const base = this.segmentBase!;
    const position = this.chunkStart + this.chunkPos;
    const leftover = this.chunkEnd - this.chunkPos;
    if (leftover > 0 && this.stop === INVALID && this.chunkTrusted) throw this.corrupt(base, position);
    const local = this.local();
    // A segment past the writer's active one is one it has begun and not yet reported durable.
    if (local !== undefined && base > local.activeBase) return false;
    const writingHere = local !== undefined && base === local.activeBase;
    let limit: number;
    /** Bytes below this are known complete: a damaged frame there is corruption, not a write in progress. */
    let trusted: number;
    let changed: boolean;
    if (writingHere) {
      limit = local.durableBytes;
      trusted = limit;
      changed = limit > this.chunkStart + this.chunkEnd || (leftover > 0 && !this.chunkTrusted);
    } else {
      const st = await file.stat();
      const sealedHere = local !== undefined && base < local.activeBase;
      limit = st.size;
      trusted = sealedHere ? limit : 0;
      // A torn tail left by a crashed writer is cut off and rewritten by the next one: re-read on any change.
      changed =
        limit > this.chunkStart + this.chunkEnd ||
        (leftover > 0 &&
          ((sealedHere && !this.chunkTrusted) || st.size !== this.seenSize || st.mtimeMs !== this.seenMtime));
      this.seenSize = st.size;
      this.seenMtime = st.mtimeMs;
    }
    if (changed && limit > position) {
      const needed = leftover > 0 ? frameBytesNeeded(this.chunk, this.chunkPos, this.chunkEnd) : 0;
      const length = Math.min(limit - position, Math.max(READ_CHUNK_BYTES, needed));
      const chunk = Buffer.allocUnsafe(length);
      const { bytesRead } = await file.read(chunk, 0, length, position);
      if (bytesRead > 0) {
        this.chunk = chunk;
        this.chunkStart = position;
        this.chunkPos = 0;
        this.chunkEnd = bytesRead;
        this.chunkTrusted = position + bytesRead <= trusted;
        this.stop = 0;
        return true;
      }
    }
    if (leftover > 0 && this.chunkTrusted && position < trusted) throw this.corrupt(base, position);
    if (writingHere) return false;
    return this.nextSegment(base, position + leftover, leftover);
  }

  /** At the end of the current segment: moves to the next one when the writer rolled. */
  private async nextSegment(base: number, seenBytes: number, leftover: number): Promise<boolean> {
    const bases = await listSegments(this.dir);
    const next = bases.find((b) => b > base);
    if (next === undefined) return false;
    // The writer finished this segment before creating the next: if it changed since we looked, read again.
    const st = await this.file!.stat();
    if (st.size !== this.seenSize || st.mtimeMs !== this.seenMtime) return true;
    if (leftover > 0) {
      throw this.corrupt(base, seenBytes - leftover);
    }
    if (next !== this.offset) {
      throw this.corrupt(
        base,
        seenBytes,
        `it ends at offset ${this.offset} but the next segment starts at ${next}`,
      );
    }
    await this.closeFile();
    this.segmentBase = next;
    return true;
  }

  private stopReason(): string {
    return this.stop === INVALID
      ? 'a record fails its length or CRC check'
      : 'the segment ends inside a record';
  }

  private async openSegment(): Promise<boolean> {
    if (this.segmentBase === undefined) {
      const bases = await listSegments(this.dir);
      if (bases.length === 0) return false;
      const first = bases[0]!;
      if (first > this.position) throw this.truncated(this.position, first);
      this.segmentBase = first;
      this.offset = first;
    }
    const file = await openForReading(segmentPath(this.dir, this.segmentBase));
    if (!file) {
      const bases = await listSegments(this.dir);
      throw this.truncated(this.position, bases[0] ?? this.segmentBase);
    }
    this.file = file;
    this.chunk = EMPTY;
    this.chunkStart = 0;
    this.chunkPos = 0;
    this.chunkEnd = 0;
    this.stop = 0;
    this.chunkTrusted = false;
    this.seenSize = -1;
    this.seenMtime = -1;
    return true;
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    this.chunk = EMPTY;
    this.chunkStart = 0;
    this.chunkPos = 0;
    this.chunkEnd = 0;
    this.stop = 0;
    this.chunkTrusted = false;
    await file?.close();
  }

  private truncated(offset: number, first: number): RtsaError {
    return new RtsaError(
      'LOG_TRUNCATED',
      `partition ${this.partition} of ${this.dir}: offset ${offset} is no longer in the log, retention deleted ` +
        `everything before offset ${first}. Start from ${first} (the events in between are lost for this consumer) ` +
        `or raise the log retention (RTSA_LOG_RETENTION) so consumers keep up`,
    );
  }

  private corrupt(base: number, position: number, why = this.stopReason()): RtsaError {
    const file = segmentPath(this.dir, base);
    return new RtsaError(
      'LOG_CORRUPT',
      `embedded log segment ${file} is corrupt at byte ${position} (offset ${this.offset}): ${why}. ` +
        `Restore the file from a backup; the records from there on cannot be read`,
    );
  }
}
