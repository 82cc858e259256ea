/**
 * The embedded durable log: the bus used when no Kafka is configured. Topics are folders of
 * append-only segment files; see record-format.ts for the bytes and segment.ts for the files:
 *
 *   <dir>/writer.lock                          pid of the one process allowed to append
 *   <dir>/<topic>/topic.json                   {partitions, createdAt}; partitions are fixed
 *   <dir>/<topic>/<partition>/<base>.log       records from offset <base> (20 digits) on
 *
 * Durability: what is fsynced when
 * - fsync='always': `send` resolves only after its records were written to the partition's segment
 *   file and fdatasync(2) of that file returned. Appends are group-committed per partition: every
 *   send queued while a write+fdatasync is in progress goes out in the next single write followed
 *   by one fdatasync, so many small producers share the cost of one flush. A send spanning several
 *   partitions resolves when each of them is flushed.
 * - fsync='never': `send` resolves once write(2) returned for its records, i.e. they are in the
 *   operating system's page cache; the kernel writes them to disk later (typically within 30 s).
 * - In both modes: a new segment file and a new topic's files are followed by an fsync of their
 *   folder; topic.json is written to a temporary file, fsynced and renamed; before a partition rolls
 *   to a new segment the full segment is fdatasync'ed, so a sealed segment is always complete on
 *   disk and only the last segment of a partition can end in a torn record.
 * - What survives: a send that resolved survives kill -9 of the process at any instant in both
 *   modes (the page cache outlives the process). With fsync='always' it also survives an operating
 *   system crash or power loss (on a disk that honours flushes). With fsync='never' an OS crash may
 *   lose the records of the last seconds, and recovery cuts the log at the first damaged record.
 * - Recovery: the first time a process writes to a partition it scans the partition's last segment
 *   and truncates a torn record off its end (a write cut short by a crash, never acknowledged).
 *   A damaged record inside a sealed segment is reported as LOG_CORRUPT naming the file.
 * - A send that fails (disk full…) rejects; records of it that reached a previous segment before a
 *   roll stay in the log, so a retried send may store them twice (at-least-once, as with Kafka).
 *   A failed fdatasync stops all appends to that partition until the process restarts and
 *   recovers (the page cache can no longer be trusted to match the disk).
 * - Retention deletes whole sealed segments whose newest record is older than retentionMs, checked
 *   when a process first writes to a partition and whenever it rolls; the segment being appended
 *   to is never deleted.
 * - Readers in the writing process see only durable records (written, and fdatasync'ed with
 *   fsync='always'). Readers in other processes see every complete CRC-valid record, which with
 *   fsync='always' may be a few milliseconds ahead of the fdatasync.
 *
 * One process appends to a folder at a time (writer.lock, taken on the first `sink()` and
 * released by `close()`; a topic creation takes it for the creation only); any number of processes
 * may read.
 */
import { stat } from 'node:fs/promises';
import { ConfigError, RtsaError } from '../../errors.ts';
import { type Logger, silentLogger } from '../../telemetry/logger.ts';
import { partitionForKey } from '../partitioner.ts';
import type { Bus, OutgoingMessage, Sink, SourceOptions, TopicInfo } from '../types.ts';
import { EmbeddedSource, type SourceContext } from './embedded-source.ts';
import { WriterLock, whileLogLocked } from './lock.ts';
import { type LocalPartitionView, PartitionLog } from './partition-log.ts';
import { type EncodedBatch, encodeRecords } from './record-format.ts';
import { SharedLogView } from './shared-view.ts';
import { isNotFound, listSegments, segmentPath } from './segment.ts';
import {
  createTopic,
  partitionDir,
  readTopicMeta,
  type TopicMeta,
  validatePartitionCount,
  validateTopicName,
} from './topic-meta.ts';

export { EmbeddedSource } from './embedded-source.ts';

export interface EmbeddedBusOptions {
  /** Folder of the log (created when missing). */
  dir: string;
  /** 'always': fdatasync before a send resolves (survives power loss); 'never': survives kill -9 only. */
  fsync: 'always' | 'never';
  /** Sealed segments whose newest record is older than this are deleted. */
  retentionMs: number;
  /** A partition rolls to a new segment file when the next records would make it larger than this. */
  segmentBytes: number;
  logger?: Logger;
  /** How often a caught-up source looks for records appended by another process (default 25 ms). */
  pollIntervalMs?: number;
  /** Clock for append timestamps and retention (default Date.now); tests move it. */
  clock?: () => number;
  /**
   * This bus reads, on another thread, a log appended by the process's own bus: per topic, the
   * buffer that bus's `shareTopic` returned. Its sources then read only durable records and wake on
   * appends (shared-view.ts), as on the writer's thread.
   */
  sharedViews?: Readonly<Record<string, SharedArrayBuffer>>;
}

export class EmbeddedBus implements Bus {
  readonly kind = 'embedded' as const;
  readonly dir: string;
  private readonly fsync: 'always' | 'never';
  private readonly retentionMs: number;
  private readonly segmentBytes: number;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly context: SourceContext;
  private lock: WriterLock | undefined;
  /** This process produces (a sink was made, or it appended): it keeps the writer lock. */
  private writing = false;
  private closing: Promise<void> | undefined;
  private readonly topics = new Map<string, TopicMeta>();
  private readonly creating = new Map<string, Promise<TopicMeta>>();
  private readonly logs = new Map<string, PartitionLog>();
  private readonly opening = new Map<string, Promise<PartitionLog>>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly sources = new Set<EmbeddedSource>();
  /** Topics this bus appends to and shares with readers on other threads (`shareTopic`). */
  private readonly shared = new Map<string, SharedLogView>();
  /** Topics appended by the process's bus on another thread (options.sharedViews). */
  private readonly remote = new Map<string, SharedLogView>();
  private readonly watching = new Set<string>();

  constructor(options: EmbeddedBusOptions) {
    if (typeof options.dir !== 'string' || options.dir === '') {
      throw new ConfigError('embedded log: dir is empty: set the data folder (--data-dir)');
    }
    if (options.fsync !== 'always' && options.fsync !== 'never') {
      throw new ConfigError(`embedded log: fsync is "${options.fsync}": use always or never`);
    }
    if (!(options.retentionMs > 0)) {
      throw new ConfigError(
        `embedded log: retention ${options.retentionMs} ms is not positive (RTSA_LOG_RETENTION)`,
      );
    }
    if (!Number.isInteger(options.segmentBytes) || options.segmentBytes < 1) {
      throw new ConfigError(
        `embedded log: segment size ${options.segmentBytes} is not a positive integer (RTSA_LOG_SEGMENT_BYTES)`,
      );
    }
    const pollIntervalMs = options.pollIntervalMs ?? 25;
    if (!(pollIntervalMs > 0))
      throw new ConfigError(`embedded log: pollIntervalMs ${pollIntervalMs} is not positive`);
    this.dir = options.dir;
    this.fsync = options.fsync;
    this.retentionMs = options.retentionMs;
    this.segmentBytes = options.segmentBytes;
    this.logger = options.logger ?? silentLogger();
    this.clock = options.clock ?? Date.now;
    this.context = {
      root: this.dir,
      logger: this.logger,
      pollIntervalMs,
      describe: (topic) => this.topicMeta(topic),
      local: (topic, partition): LocalPartitionView | undefined =>
        this.logs.get(logKey(topic, partition)) ?? this.remote.get(topic)?.read(partition),
      subscribe: (topic, wake) => {
        let set = this.listeners.get(topic);
        if (!set) {
          set = new Set();
          this.listeners.set(topic, set);
        }
        set.add(wake);
        this.watchRemote(topic);
        return () => set.delete(wake);
      },
      started: (source) => {
        this.assertOpen();
        this.sources.add(source);
      },
      stopped: (source) => this.sources.delete(source),
      tails: new Map(),
    };
    for (const [topic, buffer] of Object.entries(options.sharedViews ?? {})) {
      this.remote.set(topic, new SharedLogView(buffer));
    }
  }

  /**
   * Shares what this bus appends to `topic` with readers on other threads of this process: pass the
   * buffer to their EmbeddedBus as `sharedViews[topic]`. The topic must exist.
   */
  async shareTopic(topic: string): Promise<SharedArrayBuffer> {
    const existing = this.shared.get(topic);
    if (existing) return existing.buffer;
    const meta = await this.topicMeta(topic);
    if (!meta)
      throw new Error(
        `topic "${topic}" does not exist in the embedded log: create it with ensureTopic first`,
      );
    const view = this.shared.get(topic) ?? SharedLogView.create(meta.partitions);
    this.shared.set(topic, view);
    this.publish(topic);
    return view.buffer;
  }

  /**
   * The bytes each partition of `topic` holds on disk (its retained segments), by partition number:
   * what the partitions' share of the traffic has been, for dealing them out (assignment.ts).
   */
  async partitionBytes(topic: string): Promise<number[]> {
    const meta = await this.topicMeta(topic);
    if (!meta) throw new Error(`topic "${topic}" does not exist in the embedded log`);
    return Promise.all(
      Array.from({ length: meta.partitions }, async (_, p) => {
        const dir = partitionDir(this.dir, topic, p);
        let bytes = 0;
        for (const base of await listSegments(dir)) {
          bytes += await stat(segmentPath(dir, base)).then(
            (s) => s.size,
            (error: unknown) => (isNotFound(error) ? 0 : Promise.reject(error)),
          );
        }
        return bytes;
      }),
    );
  }

  /** Creates the topic when missing (taking the writer lock); an existing topic keeps its partitions. */
  async ensureTopic(name: string, partitions: number): Promise<TopicInfo> {
    validateTopicName(name);
    validatePartitionCount(partitions);
    this.assertOpen();
    const existing = await this.topicMeta(name);
    if (existing) return { name, partitions: existing.partitions };
    // Another process may hold the writer lock for a moment to create topics itself: wait for it,
    // and take its topic if it made this one.
    const made = await whileLogLocked(async () => {
      const meta = await readTopicMeta(this.dir, name);
      if (meta === undefined) this.acquireLock();
      return meta;
    });
    if (made !== undefined) {
      this.topics.set(name, made);
      return { name, partitions: made.partitions };
    }
    let creating = this.creating.get(name);
    if (!creating) {
      creating = (async () => {
        const meta =
          (await readTopicMeta(this.dir, name)) ??
          (await createTopic(this.dir, name, partitions, this.clock()));
        this.topics.set(name, meta);
        return meta;
      })().finally(() => this.creating.delete(name));
      this.creating.set(name, creating);
    }
    try {
      return { name, partitions: (await creating).partitions };
    } finally {
      // A process that only reads (rtsa lake on a fresh folder) creates the topic and lets go of
      // the lock, so that a producer can append; a process that has appended keeps it.
      if (!this.writing && this.creating.size === 0) {
        this.lock?.release();
        this.lock = undefined;
      }
    }
  }

  async describeTopic(name: string): Promise<TopicInfo | undefined> {
    validateTopicName(name);
    const meta = await this.topicMeta(name);
    return meta && { name, partitions: meta.partitions };
  }

  /** A producer. Takes the writer lock: throws RtsaError('LOG_LOCKED') when another process holds it. */
  sink(): EmbeddedSink {
    this.assertOpen();
    this.acquireLock();
    this.writing = true;
    return new EmbeddedSink(this);
  }

  /** The single consumer of `topic`; see EmbeddedSource.done for how it reports a fatal error. */
  source(options: SourceOptions): EmbeddedSource {
    this.assertOpen();
    validateTopicName(options.topic);
    return new EmbeddedSource(this.context, options);
  }

  /** Stops the sources, waits for pending appends, closes the files and releases the writer lock. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  /**
   * Appends `messages` (partition by key) and resolves once they are durable, with the offset of
   * the last record appended per partition.
   */
  async append(topic: string, messages: readonly OutgoingMessage[]): Promise<Map<number, number>> {
    this.assertOpen();
    const last = new Map<number, number>();
    if (messages.length === 0) return last;
    this.acquireLock();
    this.writing = true;
    const meta = await this.topicMeta(topic);
    this.assertOpen();
    if (!meta) {
      throw new Error(
        `topic "${topic}" does not exist in the embedded log: create it with ensureTopic first`,
      );
    }
    const timestamp = this.clock();
    const batches: [number, EncodedBatch][] = [];
    if (meta.partitions === 1) {
      batches.push([0, encodeRecords(messages, timestamp)]);
    } else {
      const groups = new Map<number, OutgoingMessage[]>();
      for (const m of messages) {
        const p = partitionForKey(m.key, meta.partitions);
        const group = groups.get(p);
        if (group) group.push(m);
        else groups.set(p, [m]);
      }
      for (const [p, group] of groups) batches.push([p, encodeRecords(group, timestamp)]);
    }
    await Promise.all(
      batches.map(async ([p, batch]) => {
        const log = this.logs.get(logKey(topic, p)) ?? (await this.openLog(topic, p));
        const first = await log.append(batch);
        last.set(p, first + batch.ends.length - 1);
      }),
    );
    return last;
  }

  private async doClose(): Promise<void> {
    for (const view of this.remote.values()) view.wakeAll();
    const results = await Promise.allSettled([...this.sources].map((s) => s.stop()));
    for (const r of results) {
      if (r.status === 'rejected')
        this.logger.warn({ err: r.reason }, 'embedded log: a source failed to stop');
    }
    await Promise.allSettled(this.opening.values());
    await Promise.all([...this.logs.values()].map((log) => log.close()));
    this.logs.clear();
    this.lock?.release();
    this.lock = undefined;
  }

  private async topicMeta(topic: string): Promise<TopicMeta | undefined> {
    const cached = this.topics.get(topic);
    if (cached) return cached;
    const meta = await readTopicMeta(this.dir, topic);
    if (meta) this.topics.set(topic, meta);
    return meta;
  }

  private openLog(topic: string, partition: number): Promise<PartitionLog> {
    const key = logKey(topic, partition);
    let opening = this.opening.get(key);
    if (!opening) {
      opening = PartitionLog.open({
        topic,
        partition,
        dir: partitionDir(this.dir, topic, partition),
        fsync: this.fsync,
        segmentBytes: this.segmentBytes,
        retentionMs: this.retentionMs,
        clock: this.clock,
        logger: this.logger,
        onAppended: () => this.notify(topic),
      })
        .then((log) => {
          this.logs.set(key, log);
          // Before its first append: a thread must not read the records it writes before they are durable.
          this.publish(topic);
          return log;
        })
        .finally(() => this.opening.delete(key));
      this.opening.set(key, opening);
    }
    return opening;
  }

  private notify(topic: string): void {
    this.publish(topic);
    const set = this.listeners.get(topic);
    if (set) for (const wake of set) wake();
  }

  private publish(topic: string): void {
    const view = this.shared.get(topic);
    if (view === undefined) return;
    view.publish(Array.from({ length: view.partitions }, (_, p) => this.logs.get(logKey(topic, p))));
  }

  /** Wakes this bus's sources of `topic` when the writer on another thread appends (until closed). */
  private watchRemote(topic: string): void {
    const view = this.remote.get(topic);
    if (view === undefined || this.watching.has(topic)) return;
    this.watching.add(topic);
    void (async () => {
      let seen = view.version();
      while (!this.closing) {
        await view.changedSince(seen, 1_000);
        const now = view.version();
        if (now === seen) continue;
        seen = now;
        const set = this.listeners.get(topic);
        if (set) for (const wake of set) wake();
      }
    })();
  }

  private acquireLock(): void {
    this.lock ??= WriterLock.acquire(this.dir, this.logger);
  }

  lockGroup(topic: string, group: string): { release(): void } {
    this.assertOpen();
    const lock = WriterLock.acquire(this.dir, this.logger, {
      file: `group.${encodeURIComponent(topic)}.${encodeURIComponent(group)}.lock`,
      what: 'consumer group',
      error: (dir, file, who, stop) =>
        new RtsaError(
          'LOG_GROUP_LOCKED',
          `consumer group ${group} of topic ${topic} in the embedded log ${dir} is already run by ${who}: ` +
            'on the embedded log one process runs a group (its threads share the partitions: raise ' +
            `--processor-threads or --lake-threads instead). Stop it first${stop}, or use Kafka to spread a group ` +
            `over processes; if no such process exists, delete ${file}`,
        ),
    });
    return { release: () => lock.release() };
  }

  private assertOpen(): void {
    if (this.closing) throw new Error(`embedded log ${this.dir} is closed`);
  }
}

/** The producer of an EmbeddedBus. */
export class EmbeddedSink implements Sink {
  private readonly bus: EmbeddedBus;
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;

  constructor(bus: EmbeddedBus) {
    this.bus = bus;
  }

  /** Resolves once every message is durable (see the top of this file for what that means). */
  async send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    await this.sendWithOffsets(topic, messages);
  }

  /** Like `send`, resolving with the offset of the last record appended per partition. */
  sendWithOffsets(topic: string, messages: readonly OutgoingMessage[]): Promise<Map<number, number>> {
    if (this.closed) return Promise.reject(new Error('this sink is closed'));
    const sending = this.bus.append(topic, messages);
    this.pending.add(sending);
    const forget = () => this.pending.delete(sending);
    sending.then(forget, forget);
    return sending;
  }

  /** Waits for the sends in flight; the bus stays open. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.pending);
  }
}

function logKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}
