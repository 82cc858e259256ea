import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConnectionPool,
  Consumer,
  type ConsumerGroupJoinPayload,
  findErrorBy,
  ListOffsetTimestamps,
} from '@platformatic/kafka';
import { BusUnavailableError, errorMessage, RtsaError } from '../../errors.ts';
import { assignGroupBySize } from '../assignment.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { BusRecord, Source, SourceHandler, SourceOptions } from '../types.ts';
import { BrokerHealth, backoffMs } from './broker-health.ts';

/** RecordBatch attribute bits (Kafka's DefaultRecordBatch). */
const TIMESTAMP_TYPE_LOG_APPEND = 0x08;
const CONTROL_BATCH = 0x20;

type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;

const DEFAULT_MAX_BATCH = 10_000;
const DEFAULT_IDLE_INTERVAL_MS = 100;
/** Longest a fetch waits for data: bounds how late `stop`, rebalances and `idle` can be. */
const MAX_FETCH_WAIT_MS = 500;
const PARTITION_FETCH_BYTES = 1024 * 1024;
/**
 * The group protocol rtsa's members offer first: the leader deals the partitions by size (records
 * retained in each), largest first to the least-loaded member (bus/assignment.ts), instead of
 * round-robin by number, which gives one member the busiest partitions when keys are skewed.
 * `roundrobin` is offered second, so a member of an older rtsa can still join the group.
 */
const SIZE_ASSIGNOR = 'rtsa-by-size';

export interface KafkaSourceSettings {
  brokers: string[];
  clientId: string;
  logger: Logger;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  /** Called once the source has stopped and closed its connections. */
  onStopped?: () => void;
}

/**
 * One member of a Kafka consumer group (classic protocol, eager; partitions dealt by size, below).
 *
 * Offsets belong to the handler (the processor keeps them in Postgres): nothing is ever committed
 * to Kafka; each assigned partition is read from the offset `handler.assigned` returns.
 *
 * Revocation happens before the partitions are given up: the client asks for the subscription
 * metadata right before every JoinGroup request (`protocolsMetadata`), and with the eager protocol
 * the coordinator hands no partition to another member until this member has sent that request
 * (or its rebalance timeout ran out; then fencing in the store is what keeps results right). So
 * the hook waits for the batch in progress, calls `handler.revoked(all owned)`, then lets the
 * join go on. All handler calls (assigned, records, idle, revoked) run one at a time.
 */
export class KafkaSource implements Source {
  /** Resolves after `stop()`; rejects when the delivery loop dies (the handler threw). */
  readonly done: Promise<void>;

  readonly #options: Required<Omit<SourceOptions, 'member'>>;
  readonly #settings: KafkaSourceSettings;
  readonly #logger: Logger;
  readonly #consumer: Consumer;
  readonly #health: BrokerHealth;
  #fetchPool: ConnectionPool | undefined;
  #handler: SourceHandler | undefined;

  /** Partitions handed to the handler, with the next offset to read. */
  readonly #owned = new Map<number, bigint>();
  /** Bumped on every change of `#owned`: a fetch started under an older epoch is dropped. */
  #epoch = 0;
  #pendingAssignment: number[] | undefined;
  #needsRejoin = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #failure: unknown;
  #lastActivity = Date.now();
  /** Records in each partition of the topic, as of this member's last join (for the assignment). */
  #partitionSizes = new Map<string, number[]>();
  /** Tail of the chain that runs handler calls one at a time. */
  #serialTail: Promise<unknown> = Promise.resolve();
  #wake: (() => void) | undefined;
  #resolveDone!: () => void;
  #rejectDone!: (error: unknown) => void;

  constructor(options: SourceOptions, settings: KafkaSourceSettings) {
    this.#options = {
      topic: options.topic,
      group: options.group,
      maxBatch: options.maxBatch ?? DEFAULT_MAX_BATCH,
      idleIntervalMs: options.idleIntervalMs ?? DEFAULT_IDLE_INTERVAL_MS,
    };
    if (!Number.isInteger(this.#options.maxBatch) || this.#options.maxBatch < 1) {
      throw new RangeError(`maxBatch must be a positive integer, got ${options.maxBatch}`);
    }
    if (!(this.#options.idleIntervalMs > 0)) {
      throw new RangeError(`idleIntervalMs must be positive, got ${options.idleIntervalMs}`);
    }
    this.#settings = settings;
    this.#logger = settings.logger.child({ topic: options.topic, group: options.group });
    this.#health = new BrokerHealth(this.#logger, settings.brokers, `consumer ${options.group}`);
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    // The failure is logged and stays observable through `done`; do not crash the process when
    // nobody is awaiting it yet.
    this.done.catch(() => {});
    this.#consumer = new Consumer({
      clientId: settings.clientId,
      bootstrapBrokers: settings.brokers,
      groupId: options.group,
      autocommit: false,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      rebalanceTimeout: settings.rebalanceTimeoutMs,
      protocols: [
        { name: SIZE_ASSIGNOR, version: 1 },
        { name: 'roundrobin', version: 1 },
      ],
      partitionAssigner: (_current, members, topics, metadata) => {
        const counts = new Map<string, number>();
        for (const topic of topics) counts.set(topic, metadata.topics.get(topic)?.partitionsCount ?? 0);
        const dealt = assignGroupBySize([...members.keys()], counts, this.#partitionSizes);
        return [...dealt].map(([memberId, byTopic]) => ({
          memberId,
          assignments: new Map([...byTopic].map(([topic, partitions]) => [topic, { topic, partitions }])),
        }));
      },
      protocolsMetadata: () => this.#beforeJoin(),
      retries: 5,
      retryDelay: (_client, operation, attempt, _retries, error) => {
        const delay = backoffMs(attempt);
        this.#health.failed(error, delay, operation);
        return delay;
      },
      connectTimeout: 5_000,
      timeout: 30_000,
    });
    this.#consumer.on('consumer:group:join', (payload: ConsumerGroupJoinPayload) => this.#onJoin(payload));
    // Emitted when the client gave up re-joining (e.g. the broker was down through all retries):
    // membership is dead until someone joins again, which the loop does with back-off.
    this.#consumer.on('error', (error: unknown) => {
      this.#logger.warn({ err: error }, `kafka consumer ${options.group}: group membership lost, re-joining`);
      this.#needsRejoin = true;
      this.#wake?.();
    });
  }

  async start(handler: SourceHandler): Promise<void> {
    if (this.#handler) throw new Error('start() called twice on the same Kafka source');
    if (this.#stopping) throw new Error('start() after stop(): create a new source');
    this.#handler = handler;
    // Fetches long-poll; on their own connections they never hold up heartbeats and joins.
    this.#fetchPool = new ConnectionPool(this.#settings.clientId, {
      connectTimeout: 5_000,
      requestTimeout: 30_000,
    });
    this.#consumer.topics.track(this.#options.topic);
    try {
      await this.#consumer.joinGroup({});
    } catch (error) {
      const failure = new BusUnavailableError(
        `could not join Kafka consumer group ${this.#options.group} on ${this.#settings.brokers.join(',')}: ${errorMessage(error)}`,
        { cause: error },
      );
      this.#failure = failure;
      this.#rejectDone(failure);
      await this.stop();
      throw failure;
    }
    try {
      // Like the embedded source: start() resolves once the handler knows its first partitions.
      await this.#applyAssignment();
    } catch (error) {
      this.#failure = error;
      this.#rejectDone(error);
      await this.stop();
      throw error;
    }
    this.#health.ok();
    const run = this.#run();
    this.#loop = run.catch(() => {});
    run.catch(async (error: unknown) => {
      this.#failure ??= error;
      this.#logger.error(
        { err: error },
        `kafka source for ${this.#options.topic} stopped: ${errorMessage(error)}`,
      );
      this.#rejectDone(this.#failure);
      await this.stop().catch(() => {});
    });
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  endOffsets(): Promise<Map<number, number>> {
    return this.#offsetsAt(ListOffsetTimestamps.LATEST);
  }

  startOffsets(): Promise<Map<number, number>> {
    return this.#offsetsAt(ListOffsetTimestamps.EARLIEST);
  }

  /** Each partition's offset at `timestamp` (LATEST: the end of the log; EARLIEST: its first record). */
  async #offsetsAt(timestamp: bigint): Promise<Map<number, number>> {
    const offsets = await this.#consumer.listOffsets({ topics: [this.#options.topic], timestamp });
    const result = new Map<number, number>();
    (offsets.get(this.#options.topic) ?? []).forEach((offset, partition) => {
      result.set(partition, Number(offset));
    });
    return result;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    try {
      if (this.#handler && this.#failure === undefined) {
        await this.#serial(async () => this.#revokeAll('stopping'));
      } else if (this.#handler) {
        // The handler already failed: tell it best-effort, the store's fencing covers the rest.
        await this.#serial(async () => this.#revokeAll('stopping after a failure')).catch(() => {});
      }
    } finally {
      await this.#closeClients();
      if (this.#failure === undefined) this.#resolveDone();
      this.#settings.onStopped?.();
    }
  }

  async #closeClients(): Promise<void> {
    // close() leaves the group, so the others get this member's partitions at once.
    await this.#consumer.close(true).catch((error: unknown) => {
      this.#logger.warn(
        { err: error },
        'kafka consumer: leaving the group failed; the broker will time it out',
      );
    });
    await this.#fetchPool?.close().catch(() => {});
  }

  /** Runs handler calls strictly one after another, whichever path (loop, rebalance, stop) asks. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serialTail.then(fn, fn);
    this.#serialTail = run.catch(() => {});
    return run;
  }

  async #revokeAll(reason: string): Promise<void> {
    this.#epoch++;
    this.#pendingAssignment = undefined;
    if (this.#owned.size === 0) return;
    const partitions = [...this.#owned.keys()].sort((a, b) => a - b);
    this.#owned.clear();
    this.#logger.info({ partitions, reason }, `kafka source: partitions revoked (${reason})`);
    await this.#handler!.revoked(partitions);
  }

  /** `protocolsMetadata` hook: runs right before each JoinGroup request. */
  async #beforeJoin(): Promise<Buffer> {
    if (this.#handler) {
      try {
        await this.#serial(async () => this.#revokeAll('rebalance'));
      } catch (error) {
        // The member cannot stay consistent: die (done rejects); the join goes on with nothing owned.
        this.#failure ??= error;
        this.#wake?.();
      }
    }
    await this.#measurePartitions();
    return Buffer.alloc(0);
  }

  /**
   * Before a join: the records in each partition, which the assignment deals by if this member
   * becomes the group's leader. If the broker does not answer (after the client's own retries), the
   * last sizes stand (none: a deal by number); the join goes on either way.
   */
  async #measurePartitions(): Promise<void> {
    try {
      const { earliest, latest } = await this.#readBounds();
      this.#partitionSizes.set(
        this.#options.topic,
        latest.map((end, p) => Number(end - (earliest[p] ?? 0n))),
      );
    } catch (error) {
      this.#logger.debug({ err: error }, 'kafka source: partition sizes unknown for this join');
    }
  }

  #onJoin(payload: ConsumerGroupJoinPayload): void {
    const partitions = (payload.assignments ?? [])
      .filter((a) => a.topic === this.#options.topic)
      .flatMap((a) => a.partitions)
      .sort((a, b) => a - b);
    this.#logger.debug({ generation: payload.generationId, partitions }, 'kafka source: joined the group');
    this.#pendingAssignment = partitions;
    this.#wake?.();
  }

  async #applyAssignment(): Promise<void> {
    await this.#serial(async () => {
      const assignment = this.#pendingAssignment;
      if (assignment === undefined || this.#stopping) return;
      this.#pendingAssignment = undefined;
      this.#epoch++;
      const wanted = new Set(assignment);
      // With eager rebalancing everything was revoked before the join; this only matters if the
      // client ever delivers an assignment without asking for the metadata first.
      const lost = [...this.#owned.keys()].filter((p) => !wanted.has(p));
      if (lost.length > 0) {
        for (const p of lost) this.#owned.delete(p);
        this.#logger.info({ partitions: lost }, 'kafka source: partitions revoked (reassigned)');
        await this.#handler!.revoked(lost);
      }
      const added = assignment.filter((p) => !this.#owned.has(p));
      if (added.length === 0) return;
      const requested = await this.#handler!.assigned(added);
      // Owned from here on, so that stop() or a failure revokes them whatever happens next.
      for (const p of added) this.#owned.set(p, 0n);
      const { earliest, latest } = await this.#logBounds();
      for (const p of added) {
        const start = earliest[p] ?? 0n;
        const end = latest[p] ?? 0n;
        const asked = requested.get(p);
        if (asked === undefined) {
          this.#owned.set(p, start); // not mentioned: from the first retained record
          continue;
        }
        if (!Number.isSafeInteger(asked) || asked < 0) {
          throw new RangeError(
            `handler.assigned returned offset ${asked} for partition ${p}: expected an integer ≥ 0`,
          );
        }
        this.#owned.set(p, this.#checkStart(p, BigInt(asked), start, end));
      }
      this.#logger.info(
        { partitions: added, offsets: Object.fromEntries([...this.#owned].map(([p, o]) => [p, Number(o)])) },
        'kafka source: partitions assigned',
      );
    });
  }

  async #run(): Promise<void> {
    let failures = 0;
    let prefetch:
      | { epoch: number; positions: Map<number, bigint>; result: Promise<FetchResponse[]> }
      | undefined;
    while (!this.#stopping) {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#needsRejoin) {
        this.#needsRejoin = false;
        try {
          await this.#consumer.joinGroup({});
          this.#health.ok();
          failures = 0;
        } catch (error) {
          this.#needsRejoin = true;
          const delay = backoffMs(++failures);
          this.#health.failed(error, delay, 'joinGroup');
          await this.#waitForWork(delay);
        }
        continue;
      }
      if (this.#pendingAssignment !== undefined) {
        await this.#applyAssignment();
        continue;
      }
      if (this.#owned.size === 0) {
        await this.#waitForWork(this.#untilIdleMs());
        await this.#maybeIdle();
        continue;
      }
      const epoch = this.#epoch;
      const positions = new Map(this.#owned);
      let pending: Promise<FetchResponse[]>;
      if (prefetch && prefetch.epoch === epoch && samePositions(prefetch.positions, positions)) {
        pending = prefetch.result;
      } else {
        // Never two fetches on one fetch session at once: let a stale prefetch finish first.
        await prefetch?.result.catch(() => {});
        pending = this.#fetch(positions);
      }
      prefetch = undefined;
      let responses: FetchResponse[];
      try {
        responses = await pending;
        this.#health.ok();
        failures = 0;
      } catch (error) {
        if (await this.#recoverOutOfRange(error, epoch)) continue;
        const delay = backoffMs(++failures);
        this.#health.failed(error, delay, 'fetch');
        await this.#waitForWork(delay);
        await this.#maybeIdle();
        continue;
      }
      const { records, next } = decode(responses, positions);
      if (records.length > 0 && !this.#stopping) {
        // Fetch the next round while the handler works on this one.
        const after = new Map(positions);
        for (const [partition, offset] of next) after.set(partition, offset);
        const result = this.#fetch(after);
        result.catch(() => {}); // awaited on the next round, or dropped
        prefetch = { epoch, positions: after, result };
      }
      await this.#deliver(records, next, epoch);
      await this.#maybeIdle();
    }
    await prefetch?.result.catch(() => {});
  }

  #untilIdleMs(): number {
    return Math.max(1, this.#lastActivity + this.#options.idleIntervalMs - Date.now());
  }

  async #maybeIdle(): Promise<void> {
    if (this.#stopping || Date.now() - this.#lastActivity < this.#options.idleIntervalMs) return;
    this.#lastActivity = Date.now();
    const idle = this.#handler?.idle;
    if (idle) await this.#serial(() => idle.call(this.#handler));
  }

  /** Sleeps up to `ms`, waking early for an assignment, a re-join or stop. */
  async #waitForWork(ms: number): Promise<void> {
    if (this.#stopping || this.#pendingAssignment !== undefined || this.#needsRejoin) return;
    const controller = new AbortController();
    this.#wake = () => controller.abort();
    try {
      await sleep(ms, undefined, { signal: controller.signal });
    } catch {
      // woken up
    } finally {
      this.#wake = undefined;
    }
  }

  /** One fetch per partition leader, in parallel. */
  async #fetch(positions: Map<number, bigint>): Promise<FetchResponse[]> {
    const topic = this.#options.topic;
    const metadata = await this.#consumer.metadata({ topics: [topic] });
    const info = metadata.topics.get(topic);
    if (!info) throw new Error(`Kafka topic ${topic} has no metadata`);
    const byLeader = new Map<number, number[]>();
    for (const partition of positions.keys()) {
      const leader = info.partitions[partition]?.leader ?? -1;
      if (leader < 0) continue; // election in progress: try again on the next round
      const list = byLeader.get(leader) ?? [];
      list.push(partition);
      byLeader.set(leader, list);
    }
    if (byLeader.size === 0) {
      await sleep(100);
      return [];
    }
    const maxWaitTime = Math.min(MAX_FETCH_WAIT_MS, this.#options.idleIntervalMs);
    return Promise.all(
      [...byLeader].map(([node, partitions]) =>
        this.#consumer.fetch({
          node,
          connectionPool: this.#fetchPool!,
          maxWaitTime,
          minBytes: 1,
          maxBytes: 50 * 1024 * 1024,
          topics: [
            {
              topicId: info.id,
              partitions: partitions.map((partition) => ({
                partition,
                fetchOffset: positions.get(partition)!,
                partitionMaxBytes: PARTITION_FETCH_BYTES,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              })),
            },
          ],
        }),
      ),
    );
  }

  async #deliver(records: BusRecord[], next: Map<number, bigint>, epoch: number): Promise<void> {
    const { maxBatch } = this.#options;
    for (let i = 0; i < records.length; i += maxBatch) {
      const chunk = records.slice(i, i + maxBatch);
      const delivered = await this.#serial(async () => {
        if (this.#epoch !== epoch || this.#stopping || this.#failure !== undefined) return false;
        await this.#handler!.records(chunk);
        this.#lastActivity = Date.now();
        for (const r of chunk) this.#owned.set(r.partition, BigInt(r.offset) + 1n);
        return true;
      });
      if (!delivered) return;
    }
    if (this.#epoch !== epoch) return;
    for (const [partition, offset] of next) {
      const current = this.#owned.get(partition);
      if (current !== undefined && current < offset) this.#owned.set(partition, offset);
    }
  }

  /**
   * Where to read a partition from, given the log's bounds; the same rules as the embedded log.
   * Before the log start (deleted by retention): LOG_TRUNCATED, the records are gone. Past the end
   * (the topic was recreated, or the broker lost acknowledged records): start at the end, warning.
   */
  #checkStart(partition: number, wanted: bigint, start: bigint, end: bigint): bigint {
    if (wanted < start) {
      throw new RtsaError(
        'LOG_TRUNCATED',
        `Kafka topic ${this.#options.topic} partition ${partition}: offset ${wanted} was deleted by retention ` +
          `(the log starts at ${start}); records ${wanted}..${start - 1n} are lost. Raise retention.ms, or reset the processor state`,
      );
    }
    if (wanted > end) {
      this.#logger.warn(
        { partition, requested: Number(wanted), end: Number(end) },
        'kafka source: start offset is past the end of the partition (topic recreated?), starting at the end',
      );
      return end;
    }
    return wanted;
  }

  /** First and next offsets of every partition, asked once. */
  async #readBounds(): Promise<{ earliest: bigint[]; latest: bigint[] }> {
    const topic = this.#options.topic;
    const ask = async (timestamp: bigint) =>
      (await this.#consumer.listOffsets({ topics: [topic], timestamp })).get(topic) ?? [];
    const [earliest, latest] = await Promise.all([
      ask(ListOffsetTimestamps.EARLIEST),
      ask(ListOffsetTimestamps.LATEST),
    ]);
    return { earliest, latest };
  }

  /** First and next offsets of every partition, retried while the broker is unreachable. */
  async #logBounds(): Promise<{ earliest: bigint[]; latest: bigint[] }> {
    for (let attempt = 1; ; attempt++) {
      try {
        const bounds = await this.#readBounds();
        this.#health.ok();
        return bounds;
      } catch (error) {
        if (this.#stopping) throw error;
        const delay = backoffMs(attempt);
        this.#health.failed(error, delay, 'listOffsets');
        await sleep(delay);
      }
    }
  }

  /** A fetch hit OFFSET_OUT_OF_RANGE (retention ran while this member was behind, or the topic was recreated). */
  async #recoverOutOfRange(error: unknown, epoch: number): Promise<boolean> {
    if (!(error instanceof Error) || findErrorBy(error, 'apiId', 'OFFSET_OUT_OF_RANGE') === null)
      return false;
    const { earliest, latest } = await this.#logBounds();
    await this.#serial(async () => {
      if (this.#epoch !== epoch) return;
      for (const [partition, offset] of this.#owned) {
        this.#owned.set(
          partition,
          this.#checkStart(partition, offset, earliest[partition] ?? 0n, latest[partition] ?? 0n),
        );
      }
    });
    return true;
  }
}

/**
 * The records of fetch responses from `positions` on, in offset order per partition, and the next
 * offset to read per partition (past control markers and gaps as well).
 */
function decode(
  responses: FetchResponse[],
  positions: Map<number, bigint>,
): { records: BusRecord[]; next: Map<number, bigint> } {
  const records: BusRecord[] = [];
  const next = new Map<number, bigint>();
  for (const response of responses) {
    for (const topicResponse of response.responses) {
      for (const part of topicResponse.partitions) {
        const partition = part.partitionIndex;
        const from = positions.get(partition);
        if (from === undefined || !part.records) continue;
        let expected = from;
        for (const batch of part.records) {
          if ((batch.attributes & CONTROL_BATCH) === 0) {
            const logAppendTime = (batch.attributes & TIMESTAMP_TYPE_LOG_APPEND) !== 0;
            for (const record of batch.records) {
              const offset = batch.firstOffset + BigInt(record.offsetDelta);
              if (offset < expected) continue; // a batch can start before the offset asked for
              records.push({
                partition,
                offset: Number(offset),
                key: record.key ? record.key.toString('utf8') : null,
                value: record.value ?? Buffer.alloc(0),
                timestamp: Number(
                  logAppendTime ? batch.maxTimestamp : batch.firstTimestamp + record.timestampDelta,
                ),
              });
              expected = offset + 1n;
            }
          }
          // Skip past control markers and compacted or aborted gaps too.
          const batchEnd = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
          if (batchEnd > expected) expected = batchEnd;
        }
        if (expected > from) next.set(partition, expected);
      }
    }
  }
  return { records, next };
}

function samePositions(a: Map<number, bigint>, b: Map<number, bigint>): boolean {
  if (a.size !== b.size) return false;
  for (const [partition, offset] of a) if (b.get(partition) !== offset) return false;
  return true;
}
