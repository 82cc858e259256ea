/**
 * The writing side of one partition: recovery of the last segment on open, group-committed appends,
 * segment rolls and retention. Only the process holding the writer lock creates these.
 */
import { type FileHandle, mkdir, open, unlink } from 'node:fs/promises';
import { RtsaError } from '../../errors.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { EncodedBatch } from './record-format.ts';
import { isNotFound, listSegments, scanSegment, segmentPath } from './segment.ts';

/** At most this many bytes go into one write(2) (a group commit of more is split). */
const MAX_WRITE_BYTES = 16 * 1024 * 1024;

export interface PartitionLogOptions {
  topic: string;
  partition: number;
  /** `<dir>/<topic>/<partition>` */
  dir: string;
  fsync: 'always' | 'never';
  segmentBytes: number;
  retentionMs: number;
  clock: () => number;
  logger: Logger;
  /** Called after records became durable (readers in this process may read them). */
  onAppended: () => void;
}

interface Segment {
  base: number;
  /** Newest append time in the segment; undefined until known (scanned lazily for retention). */
  maxTimestamp: number | undefined;
}

interface PendingAppend {
  batch: EncodedBatch;
  resolve: (firstOffset: number) => void;
  reject: (error: unknown) => void;
}

/** What readers in this process need to know of the partition being written. */
export interface LocalPartitionView {
  /** Base offset of the segment being appended to. */
  readonly activeBase: number;
  /** Bytes of that segment that are written (and fsynced with fsync='always'): readers stop there. */
  readonly durableBytes: number;
  /** Offset the next appended record gets. */
  readonly nextOffset: number;
}

export class PartitionLog implements LocalPartitionView {
  private readonly o: PartitionLogOptions;
  private readonly segments: Segment[];
  private file: FileHandle;
  private activeBytes: number;
  private next: number;
  private queue: PendingAppend[] = [];
  private flushing = false;
  private drainWaiters: (() => void)[] = [];
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    o: PartitionLogOptions,
    segments: Segment[],
    file: FileHandle,
    bytes: number,
    next: number,
  ) {
    this.o = o;
    this.segments = segments;
    this.file = file;
    this.activeBytes = bytes;
    this.next = next;
  }

  /** Opens the partition for appending, truncating a torn record off the end of its last segment. */
  static async open(o: PartitionLogOptions): Promise<PartitionLog> {
    await mkdir(o.dir, { recursive: true });
    const bases = await listSegments(o.dir);
    if (bases.length === 0) {
      await createSegment(o.dir, 0);
      bases.push(0);
    }
    const tailBase = bases[bases.length - 1]!;
    const tailPath = segmentPath(o.dir, tailBase);
    const file = await open(tailPath, 'r+');
    try {
      const scan = await scanSegment(file);
      if (scan.validBytes < scan.fileBytes) {
        o.logger.warn(
          {
            segment: tailPath,
            keptBytes: scan.validBytes,
            droppedBytes: scan.fileBytes - scan.validBytes,
            nextOffset: tailBase + scan.records,
            reason: scan.stoppedAt,
          },
          'embedded log: truncated a torn record off the end of the log (a write cut short by a crash, never acknowledged)',
        );
        await file.truncate(scan.validBytes);
        await file.datasync();
      }
      const segments: Segment[] = bases.map((base) => ({ base, maxTimestamp: undefined }));
      segments[segments.length - 1]!.maxTimestamp = scan.maxTimestamp;
      const log = new PartitionLog(o, segments, file, scan.validBytes, tailBase + scan.records);
      await log.applyRetention();
      return log;
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  get activeBase(): number {
    return this.segments[this.segments.length - 1]!.base;
  }

  get durableBytes(): number {
    return this.activeBytes;
  }

  get nextOffset(): number {
    return this.next;
  }

  /** First offset still retained. */
  get startOffset(): number {
    return this.segments[0]!.base;
  }

  /**
   * Queues the batch for the next group commit; resolves with the offset of its first record once
   * it is durable. Batches queued while a write is in progress go out together in the next one.
   */
  append(batch: EncodedBatch): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error(`embedded log ${this.o.dir} is closed`));
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // Start on the next turn so sends issued in this one share the write.
        setImmediate(() => void this.flushLoop());
      }
    });
  }

  /** Waits for queued appends, then closes the segment file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushing) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    await this.file.close();
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const take = this.takeGroup();
      if (this.failure) {
        for (const p of take) p.reject(this.failure);
        continue;
      }
      let first = this.next;
      const firstOffsets = take.map((p) => {
        const offset = first;
        first += p.batch.ends.length;
        return offset;
      });
      try {
        await this.write(take);
        for (let i = 0; i < take.length; i++) take[i]!.resolve(firstOffsets[i]!);
      } catch (error) {
        for (const p of take) p.reject(error);
      } finally {
        this.o.onAppended();
      }
    }
    this.flushing = false;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private takeGroup(): PendingAppend[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length) {
      const size = this.queue[n]!.batch.buf.length;
      if (n > 0 && bytes + size > MAX_WRITE_BYTES) break;
      bytes += size;
      n++;
    }
    return this.queue.splice(0, n);
  }

  /** Writes the batches in order, rolling to a new segment where the active one is full. */
  private async write(group: readonly PendingAppend[]): Promise<void> {
    const pieces: Buffer[] = [];
    let pieceBytes = 0;
    let pieceRecords = 0;
    let pieceTimestamp = 0;
    const flushPieces = async () => {
      if (pieces.length === 0) return;
      const data = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, pieceBytes);
      await this.writeAtEnd(data, pieceRecords, pieceTimestamp);
      pieces.length = 0;
      pieceBytes = 0;
      pieceRecords = 0;
    };
    for (const { batch } of group) {
      const { buf, ends } = batch;
      const count = ends.length;
      let from = 0;
      while (from < count) {
        const startByte = from === 0 ? 0 : ends[from - 1]!;
        const used = this.activeBytes + pieceBytes;
        const room = this.o.segmentBytes - used;
        let to = from;
        if (ends[count - 1]! - startByte <= room) to = count;
        else while (to < count && ends[to]! - startByte <= room) to++;
        if (to === from) {
          if (used > 0) {
            await flushPieces();
            await this.roll();
            continue;
          }
          to = from + 1; // an empty segment takes a record of any size
        }
        const endByte = ends[to - 1]!;
        pieces.push(buf.subarray(startByte, endByte));
        pieceBytes += endByte - startByte;
        pieceRecords += to - from;
        pieceTimestamp = batch.timestamp;
        from = to;
      }
    }
    await flushPieces();
  }

  private async writeAtEnd(data: Buffer, records: number, timestamp: number): Promise<void> {
    const position = this.activeBytes;
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await this.file.write(data, done, data.length - done, position + done);
        done += bytesWritten;
      }
    } catch (error) {
      // Cut off whatever part of the write reached the file, so the next append starts clean.
      try {
        await this.file.truncate(position);
      } catch (truncateError) {
        this.fail(truncateError);
      }
      throw error;
    }
    if (this.o.fsync === 'always') {
      try {
        await this.file.datasync();
      } catch (error) {
        // After a failed fsync the page cache can no longer be trusted to match the disk: stop here.
        this.fail(error);
        throw error;
      }
    }
    this.activeBytes = position + data.length;
    this.next += records;
    const active = this.segments[this.segments.length - 1]!;
    if (active.maxTimestamp === undefined || timestamp > active.maxTimestamp) active.maxTimestamp = timestamp;
  }

  /** Seals the active segment (fsynced whatever the fsync mode) and starts a new one at the next offset. */
  private async roll(): Promise<void> {
    try {
      if (this.o.fsync !== 'always') await this.file.datasync();
      await this.file.close();
      this.file = await createSegment(this.o.dir, this.next);
    } catch (error) {
      this.fail(error);
      throw error;
    }
    this.segments.push({ base: this.next, maxTimestamp: undefined });
    this.activeBytes = 0;
    await this.applyRetention();
  }

  /** Deletes sealed segments whose newest record is older than the retention; never the active one. */
  private async applyRetention(): Promise<void> {
    const cutoff = this.o.clock() - this.o.retentionMs;
    try {
      while (this.segments.length > 1) {
        const oldest = this.segments[0]!;
        const file = segmentPath(this.o.dir, oldest.base);
        if (oldest.maxTimestamp === undefined) oldest.maxTimestamp = await newestTimestamp(file);
        if (oldest.maxTimestamp >= cutoff) break;
        try {
          await unlink(file);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
        this.segments.shift();
        this.o.logger.info(
          {
            segment: file,
            newestRecord: new Date(oldest.maxTimestamp).toISOString(),
            startOffset: this.startOffset,
          },
          'embedded log: deleted a segment past retention',
        );
      }
    } catch (error) {
      this.o.logger.error(
        { err: error, dir: this.o.dir },
        'embedded log: retention failed, will retry at the next roll',
      );
    }
  }

  private fail(error: unknown): void {
    this.failure ??= new RtsaError(
      'LOG_CORRUPT',
      `embedded log ${this.o.dir} failed to write (${(error as Error).message}): appends stop until rtsa restarts and recovers the log`,
      { cause: error },
    );
  }
}

/** Creates an empty segment file and makes its name durable (fsync of the folder). */
async function createSegment(dir: string, base: number): Promise<FileHandle> {
  const file = await open(segmentPath(dir, base), 'wx+');
  await syncDir(dir);
  return file;
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function newestTimestamp(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    return (await scanSegment(handle)).maxTimestamp ?? Number.NEGATIVE_INFINITY;
  } finally {
    await handle.close();
  }
}
