/**
 * The event bus boundary. The processor, the generator and the API know these interfaces only;
 * the embedded log (`./embedded`) and Kafka (`./kafka`) implement them and pass one contract
 * test suite (test/bus/contract.ts).
 */

/** A message to append: `key` picks the partition (same key, same partition, in order). */
export interface OutgoingMessage {
  key: string;
  value: Buffer | string;
}

/** A message read back, with its position. */
export interface BusRecord {
  partition: number;
  /** Position within the partition: consecutive integers from 0 on the embedded log; Kafka's offsets. */
  offset: number;
  key: string | null;
  value: Buffer;
  /** When the log accepted the message (ms since epoch); used to judge far-future event times. */
  timestamp: number;
}

/** Appends messages. `send` resolves once every message is durable (see docs/operations.md). */
export interface Sink {
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * What a Source calls back. Partitions are assigned and revoked as consumers come and go (always
 * all of them for the embedded log). For each assigned partition the handler says where to start
 * reading; records then arrive in offset order per partition.
 */
export interface SourceHandler {
  /** Returns the offset to start from per partition (it may be before the committed one, to rebuild state). */
  assigned(partitions: readonly number[]): Promise<Map<number, number>>;
  /** After this resolves the handler must not commit for these partitions. */
  revoked(partitions: readonly number[]): Promise<void>;
  /** A batch of records of one or more assigned partitions. The next batch waits for this promise (backpressure). */
  records(batch: readonly BusRecord[]): Promise<void>;
  /** Called when no record arrived for a while, so time-based work (flush, idle partitions) goes on. */
  idle?(): Promise<void>;
  // A Source never calls these concurrently: each call waits for the previous one to settle.
}

export interface SourceOptions {
  topic: string;
  group: string;
  /** Most records per `records` call. */
  maxBatch?: number;
  /** How long `idle` waits between calls when nothing arrives. */
  idleIntervalMs?: number;
  /**
   * This source is member `index` of `count` splitting the topic in one process (processor
   * threads): on the embedded log it owns `partitions` when given (assignment.ts deals them by
   * size), else the partitions p with p % count === index. Kafka's group coordinator assigns
   * partitions among members by itself and ignores it.
   */
  member?: { index: number; count: number; partitions?: readonly number[] | undefined };
}

/** Reads a topic as one member of a consumer group. */
export interface Source {
  /** Joins and starts delivering; resolves once running. */
  start(handler: SourceHandler): Promise<void>;
  /** Settles when delivery ends: resolves after `stop()`, rejects if the loop died (handler or bus error). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
  /** Latest offset + 1 per partition (the end of the log), for lag. */
  endOffsets(): Promise<Map<number, number>>;
  /** The first offset still readable per partition (retention deletes older records). */
  startOffsets(): Promise<Map<number, number>>;
}

export interface TopicInfo {
  name: string;
  partitions: number;
}

/** A connection to one bus: creates topics, producers and consumers. */
export interface Bus {
  readonly kind: 'embedded' | 'kafka';
  /** Creates the topic when missing; returns what exists (an existing topic keeps its partition count). */
  ensureTopic(name: string, partitions: number): Promise<TopicInfo>;
  describeTopic(name: string): Promise<TopicInfo | undefined>;
  sink(): Sink;
  source(options: SourceOptions): Source;
  /**
   * The embedded log only: holds consumer group `group` of `topic` for this process until released,
   * or throws (LOG_GROUP_LOCKED) when another live process holds it. On the embedded log every
   * source takes all its partitions: two processes in one group would take them from each other
   * (fencing keeps the results right, but the one fenced stops). On Kafka the group shares them.
   */
  lockGroup?(topic: string, group: string): { release(): void };
  close(): Promise<void>;
}
