/**
 * A consumer of one topic of the embedded log. There is one consumer per group: it owns every
 * partition. The consumer group's offsets are not stored here; the handler says where to start.
 */
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { BusRecord, Source, SourceHandler, SourceOptions } from '../types.ts';
import type { LocalPartitionView } from './partition-log.ts';
import { PartitionReader } from './partition-reader.ts';
import { listSegments, openForReading, scanSegment, segmentPath } from './segment.ts';
import { partitionDir, type TopicMeta } from './topic-meta.ts';

/** What a source needs of the bus that made it. */
export interface SourceContext {
  root: string;
  logger: Logger;
  pollIntervalMs: number;
  describe(topic: string): Promise<TopicMeta | undefined>;
  /** The partition as written by this process, if it writes it. */
  local(topic: string, partition: number): LocalPartitionView | undefined;
  /** Calls `wake` whenever this process appended to the topic; returns the unsubscribe function. */
  subscribe(topic: string, wake: () => void): () => void;
  /** The source started: the bus stops it on close. */
  started(source: EmbeddedSource): void;
  /** The source stopped: the bus forgets it. */
  stopped(source: EmbeddedSource): void;
  /** End-of-log scans of partitions written by another process, shared by the bus's sources. */
  tails: Map<string, TailScan>;
}

export interface TailScan {
  base: number;
  validBytes: number;
  records: number;
}

export class EmbeddedSource implements Source {
  /**
   * Settles when delivery ends: resolves after `stop()`, rejects with the error that ended the loop
   * (an exception from the handler, LOG_CORRUPT, LOG_TRUNCATED…). The error is also logged. A
   * rejection nobody awaits does not crash the process.
   */
  readonly done: Promise<void>;
  readonly topic: string;
  private readonly ctx: SourceContext;
  private readonly maxBatch: number;
  private readonly idleIntervalMs: number;
  private readonly member: SourceOptions['member'];
  private resolveDone!: () => void;
  private rejectDone!: (error: unknown) => void;
  private handler: SourceHandler | undefined;
  private partitions: number[] = [];
  private readers: PartitionReader[] = [];
  private rotation = 0;
  private started = false;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Set when this process appended to the topic since the last read. */
  private appended = false;
  private wake: (() => void) | undefined;
  private stopPromise: Promise<void> | undefined;

  constructor(ctx: SourceContext, options: SourceOptions) {
    this.ctx = ctx;
    this.topic = options.topic;
    this.maxBatch = options.maxBatch ?? 10_000;
    this.idleIntervalMs = options.idleIntervalMs ?? 100;
    this.member = options.member;
    const m = this.member;
    if (
      m !== undefined &&
      !(
        Number.isInteger(m.count) &&
        m.count >= 1 &&
        Number.isInteger(m.index) &&
        m.index >= 0 &&
        m.index < m.count
      )
    ) {
      throw new RangeError(`member must be {index, count} with 0 <= index < count, got ${JSON.stringify(m)}`);
    }
    if (m?.partitions?.some((p) => !Number.isInteger(p) || p < 0)) {
      throw new RangeError(
        `member.partitions must be partition numbers, got ${JSON.stringify(m.partitions)}`,
      );
    }
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) {
      throw new RangeError(`maxBatch must be a positive integer, got ${options.maxBatch}`);
    }
    if (!(this.idleIntervalMs > 0)) {
      throw new RangeError(`idleIntervalMs must be positive, got ${options.idleIntervalMs}`);
    }
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => {});
  }

  /**
   * Asks the handler for start offsets (a partition it leaves out starts at the first retained
   * record), checks them and starts delivering. Rejects with LOG_TRUNCATED when a start offset was
   * deleted by retention; an offset past the end starts at the end.
   */
  async start(handler: SourceHandler): Promise<void> {
    if (this.started) throw new Error(`source of topic "${this.topic}" was already started`);
    this.started = true;
    this.handler = handler;
    try {
      this.ctx.started(this);
      const meta = await this.ctx.describe(this.topic);
      if (!meta) {
        throw new Error(
          `topic "${this.topic}" does not exist in the embedded log: create it with ensureTopic first`,
        );
      }
      const m = this.member;
      this.partitions = Array.from({ length: meta.partitions }, (_, p) => p).filter(
        (p) => m === undefined || (m.partitions?.includes(p) ?? p % m.count === m.index),
      );
      const ends = await this.endOffsets();
      const starts = await handler.assigned(this.partitions);
      this.readers = this.partitions.map(
        (p) =>
          new PartitionReader(partitionDir(this.ctx.root, this.topic, p), p, () =>
            this.ctx.local(this.topic, p),
          ),
      );
      for (const reader of this.readers) {
        const end = ends.get(reader.partition) ?? 0;
        let start = starts.get(reader.partition);
        if (start !== undefined && start > end) {
          this.ctx.logger.warn(
            { topic: this.topic, partition: reader.partition, requested: start, end },
            'embedded log: start offset is past the end of the partition (records lost in a crash?), starting at the end',
          );
          start = end;
        }
        await reader.seek(start);
      }
      if (this.stopping) throw new Error(`source of topic "${this.topic}" was stopped while starting`);
    } catch (error) {
      await this.closeReaders();
      this.rejectDone(error);
      throw error;
    }
    this.unsubscribe = this.ctx.subscribe(this.topic, () => {
      this.appended = true;
      this.wake?.();
    });
    this.loop = this.run(handler).then(
      () => this.resolveDone(),
      (error: unknown) => {
        this.ctx.logger.error(
          { err: error, topic: this.topic },
          `embedded log: delivery of topic ${this.topic} stopped: ${errorMessage(error)}`,
        );
        this.rejectDone(error);
      },
    );
  }

  /** Stops delivery; resolves after the current `records` call returned and `revoked` was called. */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  /** The next offset per partition: the end of the log (only records readable by this process). */
  async endOffsets(): Promise<Map<number, number>> {
    const meta = await this.ctx.describe(this.topic);
    if (!meta) throw new Error(`topic "${this.topic}" does not exist in the embedded log`);
    const ends = new Map<number, number>();
    for (let p = 0; p < meta.partitions; p++) {
      const local = this.ctx.local(this.topic, p);
      ends.set(p, local ? local.nextOffset : await this.scanEnd(p));
    }
    return ends;
  }

  /** The first retained offset per partition: the base of its oldest segment. */
  async startOffsets(): Promise<Map<number, number>> {
    const meta = await this.ctx.describe(this.topic);
    if (!meta) throw new Error(`topic "${this.topic}" does not exist in the embedded log`);
    const starts = new Map<number, number>();
    for (let p = 0; p < meta.partitions; p++) {
      starts.set(p, (await listSegments(partitionDir(this.ctx.root, this.topic, p)))[0] ?? 0);
    }
    return starts;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.ctx.stopped(this);
    if (this.loop === undefined) {
      this.resolveDone();
      return;
    }
    await this.handler?.revoked(this.partitions);
  }

  private async run(handler: SourceHandler): Promise<void> {
    let quietSince = Date.now();
    try {
      while (!this.stopping) {
        this.appended = false;
        const batch = await this.readBatch();
        if (this.stopping) break;
        if (batch.length > 0) {
          await handler.records(batch);
          quietSince = Date.now();
          continue;
        }
        const untilIdle = this.idleIntervalMs - (Date.now() - quietSince);
        if (untilIdle <= 0) {
          if (handler.idle) await handler.idle();
          quietSince = Date.now();
          continue;
        }
        if (!this.appended) await this.waitForData(Math.min(untilIdle, this.ctx.pollIntervalMs));
      }
    } finally {
      await this.closeReaders();
    }
  }

  /** Up to maxBatch records, taken round-robin across partitions so a busy one cannot starve the others. */
  private async readBatch(): Promise<BusRecord[]> {
    const batch: BusRecord[] = [];
    const readers = this.readers;
    const n = readers.length;
    const share = Math.max(1, Math.ceil(this.maxBatch / n));
    let progressed = true;
    while (progressed && batch.length < this.maxBatch) {
      progressed = false;
      for (let i = 0; i < n && batch.length < this.maxBatch; i++) {
        const reader = readers[(this.rotation + i) % n]!;
        const got = await reader.read(Math.min(share, this.maxBatch - batch.length), batch);
        if (got > 0) progressed = true;
      }
    }
    this.rotation = (this.rotation + 1) % Math.max(n, 1);
    return batch;
  }

  private waitForData(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, ms);
      const self = this;
      function finish() {
        clearTimeout(timer);
        self.wake = undefined;
        resolve();
      }
      this.wake = finish;
    });
  }

  /** End offset of a partition written by another process: counts the records of its last segment. */
  private async scanEnd(partition: number): Promise<number> {
    const dir = partitionDir(this.ctx.root, this.topic, partition);
    const bases = await listSegments(dir);
    const base = bases[bases.length - 1];
    if (base === undefined) return 0;
    const key = `${this.topic}/${partition}`;
    const known = this.ctx.tails.get(key);
    const from = known?.base === base ? known : { base, validBytes: 0, records: 0 };
    const file = await openForReading(segmentPath(dir, base));
    if (!file) return from.base + from.records;
    try {
      const scan = await scanSegment(file, from.validBytes);
      const tail = { base, validBytes: scan.validBytes, records: from.records + scan.records };
      this.ctx.tails.set(key, tail);
      return base + tail.records;
    } finally {
      await file.close();
    }
  }

  private async closeReaders(): Promise<void> {
    const readers = this.readers;
    this.readers = [];
    await Promise.all(readers.map((r) => r.close()));
  }
}
