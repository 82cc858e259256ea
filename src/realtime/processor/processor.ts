/**
 * Drives the windowing engine from a Source and commits to a ResultStore. One instance owns the
 * partitions its Source assigns; on assignment it claims them in Postgres (fencing any previous
 * owner), re-reads the log from their replay offset to rebuild state, and from then on commits
 * results and positions together as soon as the previous commit is durable (see commitDue).
 */
import type { Logger } from 'pino';
import { BackOff } from '../../bus/back-off.ts';
import type { BusRecord, SourceHandler } from '../../bus/types.ts';
import { FencedError, isRetriable, StoreRejectedError } from '../../errors.ts';
import { MICROS_PER_MS } from '../../events/timestamp.ts';
import type { BusyWatermarks } from './busy-watermarks.ts';
import { IsolationRestart, isDataError, type SuspectRange } from './isolation.ts';
import type { ProcessorMetrics } from './metrics.ts';
import { type EngineSettings, PartitionState } from './partition-state.ts';
import type { PartitionCommit, ResultStore } from './types.ts';

export interface ProcessorSettings extends EngineSettings {
  idleTimeoutMs: number;
  flushIntervalMs: number;
  maxBatchEvents: number;
}

export interface ProcessorOptions {
  store: ResultStore;
  topic: string;
  group: string;
  /** Who we are in processor_partitions.owner (host:pid). */
  owner: string;
  settings: ProcessorSettings;
  metrics: ProcessorMetrics;
  logger: Logger;
  clock?: () => number;
  /** With processor threads: the other threads' busy partitions, which idle ones follow too. */
  busyWatermarks?: BusyWatermarks;
}

export type ProcessorHealth = 'starting' | 'running' | 'unhealthy';

const MAX_BACKOFF_MS = 5_000;

export class StreamProcessor implements SourceHandler {
  private readonly options: ProcessorOptions;
  private readonly clock: () => number;
  private readonly partitions = new Map<number, PartitionState>();
  private lastCommitAt: number;
  private eventsSinceCommit = 0;
  private oldestUncommittedAppendMs: number | undefined;
  private failing = false;
  private closed = false;
  private readonly backOff = new BackOff();
  /** Per partition: the committed offset known durable (start of the next commit's records). */
  private readonly durable = new Map<number, number>();
  /** Per partition: records holding one that cannot be committed, committed in halves (isolation.ts). */
  private readonly suspects = new Map<number, SuspectRange & { halfDone: boolean }>();
  /** Set when a commit failed on its data: the source must restart (see restartAfterIsolation). */
  private isolation: IsolationRestart | undefined;
  health: ProcessorHealth = 'starting';
  healthDetail: string | undefined;

  constructor(options: ProcessorOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
    this.lastCommitAt = this.clock();
  }

  async assigned(partitions: readonly number[]): Promise<Map<number, number>> {
    const { store, group, topic, owner, settings, logger } = this.options;
    const starts = new Map<number, number>();
    for (const p of partitions) {
      const claimed = await this.retrying(`claim partition ${p}`, () => store.claim(group, topic, p, owner));
      const state = new PartitionState(claimed, settings, this.clock());
      this.partitions.set(p, state);
      this.durable.set(p, claimed.committedOffset);
      starts.set(p, claimed.replayOffset);
      logger.info(
        {
          partition: p,
          epoch: claimed.epoch,
          committedOffset: claimed.committedOffset,
          replayFrom: claimed.replayOffset,
        },
        claimed.replayOffset < claimed.committedOffset
          ? 'partition assigned; rebuilding state from the log'
          : 'partition assigned',
      );
    }
    this.options.metrics.partitions.set(this.partitions.size);
    if (this.health === 'starting' && this.partitions.size > 0) this.health = 'running';
    return starts;
  }

  async revoked(partitions: readonly number[]): Promise<void> {
    // While isolating, what is pending holds the failing record: the next claim rebuilds it all.
    if (this.isolation === undefined) {
      await this.commit(true).catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'final commit before giving up partitions failed');
      });
    }
    for (const p of partitions) {
      this.partitions.delete(p);
      this.durable.delete(p);
    }
    this.options.metrics.partitions.set(this.partitions.size);
    this.options.logger.info({ partitions }, 'partitions revoked');
  }

  async records(batch: readonly BusRecord[]): Promise<void> {
    if (this.isolation !== undefined) throw this.isolation;
    const now = this.clock();
    const touched = new Set<PartitionState>();
    for (const record of batch) {
      const state = this.partitions.get(record.partition);
      if (state === undefined) continue;
      if (this.suspects.size > 0) await this.commitAtSuspectBoundary(state, record.offset);
      const outcome = state.ingest(record, now);
      if (outcome !== 'skipped') {
        touched.add(state);
        if (!state.replaying) {
          this.eventsSinceCommit++;
          if (this.oldestUncommittedAppendMs === undefined) this.oldestUncommittedAppendMs = record.timestamp;
        }
      }
    }
    for (const state of touched) state.compact();
    if (this.options.busyWatermarks !== undefined) this.options.busyWatermarks.publish(this.busyMaxTs(now));
    if (this.commitDue(now)) await this.commit(false);
  }

  /** The newest event time among this processor's busy (not idle, not replaying) partitions. */
  private busyMaxTs(now: number): number {
    const { idleTimeoutMs } = this.options.settings;
    let max = Number.NEGATIVE_INFINITY;
    for (const s of this.partitions.values()) {
      if (!s.replaying && now - s.lastRecordWallMs < idleTimeoutMs && s.maxTs > max) max = s.maxTs;
    }
    return max;
  }

  async idle(): Promise<void> {
    if (this.isolation !== undefined) throw this.isolation;
    const now = this.clock();
    this.advanceIdlePartitions(now);
    if (this.commitDue(now)) await this.commit(false);
  }

  /**
   * The process is stopping (called before the source stops): a failing commit gives up at its
   * next failure instead of retrying until durable (BackOff).
   */
  stopRetrying(): void {
    this.backOff.stop();
  }

  /** Commits what is pending and stops committing. */
  async close(): Promise<void> {
    if (this.isolation === undefined) await this.commit(true);
    this.closed = true;
  }

  /**
   * After a source ended with IsolationRestart: forgets every partition (the next `assigned`
   * re-claims them and rebuilds their state from Postgres and the log), keeping the suspect ranges.
   */
  restartAfterIsolation(): void {
    this.partitions.clear();
    this.durable.clear();
    this.inflight = Promise.resolve();
    this.isolation = undefined;
    this.eventsSinceCommit = 0;
    this.oldestUncommittedAppendMs = undefined;
    this.options.metrics.partitions.set(0);
  }

  /**
   * Inside a suspect range, a commit covers at most half of it: before the record that crosses the
   * middle or the end, what is pending is committed (and waited for, so a failure names its half).
   */
  private async commitAtSuspectBoundary(state: PartitionState, offset: number): Promise<void> {
    const suspect = this.suspects.get(state.partition);
    if (suspect === undefined || offset < suspect.from || offset < state.recoverUntil) return;
    const half = suspect.from + Math.ceil((suspect.to - suspect.from) / 2);
    const atEnd = offset >= suspect.to;
    if (!atEnd && (suspect.halfDone || offset < half)) return;
    // Pending now: the records of this half, before `offset`.
    await this.commit(true);
    if (atEnd) this.suspects.delete(state.partition);
    else suspect.halfDone = true;
  }

  /** Lowest watermark over owned partitions, in µs (undefined before any event). */
  watermark(): number | undefined {
    let low: number | undefined;
    for (const state of this.partitions.values()) {
      const w = state.watermark;
      if (Number.isFinite(w) && (low === undefined || w < low)) low = w;
    }
    return low;
  }

  positions(): Map<number, number> {
    return new Map([...this.partitions].map(([p, s]) => [p, s.position]));
  }

  /**
   * Commits follow the data: one starts as soon as the previous one is durable and something
   * changed, so results are visible one commit after they arrive, and under load commits grow by
   * themselves (everything that arrived during the last one goes into the next). While a commit
   * is in flight, the flush interval bounds how long before the next is queued behind it, and
   * maxBatchEvents how much is taken before waiting for it.
   */
  private commitDue(now: number): boolean {
    if (this.eventsSinceCommit >= this.options.settings.maxBatchEvents) return true;
    if (this.committing && now - this.lastCommitAt < this.options.settings.flushIntervalMs) return false;
    for (const state of this.partitions.values()) if (!state.replaying && state.hasPending) return true;
    return false;
  }

  private advanceIdlePartitions(now: number): void {
    const { idleTimeoutMs } = this.options.settings;
    const states = [...this.partitions.values()].filter((s) => !s.replaying);
    const busy = states.filter((s) => now - s.lastRecordWallMs < idleTimeoutMs);
    // The busiest partition of the process: this processor's, or another processor thread's.
    let busiest = busy.length > 0 ? Math.max(...busy.map((s) => s.maxTs)) : Number.NEGATIVE_INFINITY;
    const shared = this.options.busyWatermarks;
    if (shared !== undefined) {
      shared.publish(busiest);
      busiest = Math.max(busiest, shared.max());
    }
    for (const state of states) {
      if (busy.includes(state)) continue;
      // An idle partition follows the busiest other partition; when all are idle, event time
      // moves on with the wall clock, so the last windows still become final (docs/semantics.md, "Watermark and late events").
      const candidate = Number.isFinite(busiest) ? busiest : state.idleCandidate(now);
      if (Number.isFinite(candidate) && state.advanceIdle(candidate)) {
        this.options.logger.debug(
          { partition: state.partition, maxTs: candidate },
          'idle partition: watermark advanced',
        );
      }
    }
  }

  /**
   * Takes what is pending and starts writing it. Commits are pipelined: the next batch is
   * processed while this one is in flight (Postgres works on the other core), but a commit
   * starts only after the previous one is durable, and is retried until it is. With `wait`,
   * returns once everything taken is durable.
   */
  private async commit(wait: boolean): Promise<void> {
    if (this.closed) return;
    await this.inflight;
    const pending: { state: PartitionState; commit: PartitionCommit }[] = [];
    for (const state of this.partitions.values()) {
      if (state.replaying) continue;
      state.compact();
      if (state.hasPending || wait) {
        const commit = state.takeCommit();
        // Forget it now: this payload is retried until durable, and a crash replays the log.
        state.handedOff(commit);
        pending.push({ state, commit });
      }
    }
    const oldest = this.oldestUncommittedAppendMs;
    this.oldestUncommittedAppendMs = undefined;
    this.eventsSinceCommit = 0;
    this.lastCommitAt = this.clock();
    if (pending.length > 0) {
      this.committing = true;
      // While isolating, each partition commits alone, so a failure names its partition.
      const writing =
        this.suspects.size > 0 && pending.length > 1
          ? (async () => {
              for (const item of pending) await this.write([item], oldest);
            })()
          : this.write(pending, oldest);
      this.inflight = writing.finally(() => {
        this.committing = false;
      });
      // Surface a fatal error on the next commit (or now when waiting); never unhandled.
      this.inflight.catch(() => {});
    }
    if (wait) await this.inflight;
  }

  private inflight: Promise<void> = Promise.resolve();
  /** A commit is being written (between `write` starting and its promise settling). */
  private committing = false;

  private async write(
    pending: { state: PartitionState; commit: PartitionCommit }[],
    oldestAppendMs: number | undefined,
  ): Promise<void> {
    const { store, group, topic, metrics, logger } = this.options;
    let backoff = 100;
    for (;;) {
      const started = performance.now();
      try {
        const stats = await store.commit(
          group,
          topic,
          pending.map((p) => p.commit),
        );
        metrics.commits.inc();
        metrics.commitDuration.observe((performance.now() - started) / 1000);
        metrics.rowsUpserted.inc({ table: 'stream_metrics_minute' }, stats.windows);
        metrics.rowsUpserted.inc({ table: 'stream_state' }, stats.streams);
        metrics.rowsUpserted.inc({ table: 'dead_letter_events' }, stats.deadLetters);
        if (oldestAppendMs !== undefined) {
          metrics.freshness.observe(Math.max(0, this.clock() - oldestAppendMs) / 1000);
        }
        for (const p of pending) this.durable.set(p.state.partition, p.commit.committedOffset);
        this.afterCommit(pending.map((p) => p.state));
        if (this.failing) logger.info('Postgres is back; commits resumed');
        this.failing = false;
        this.health = 'running';
        this.healthDetail = undefined;
        return;
      } catch (error) {
        if (error instanceof FencedError) {
          for (const p of error.partitions) this.partitions.delete(p);
          pending = pending.filter((p) => !error.partitions.includes(p.state.partition));
          metrics.partitions.set(this.partitions.size);
          logger.warn({ partitions: error.partitions }, error.message);
          if (pending.length === 0) return;
          continue;
        }
        if (isDataError(error)) {
          const restart = await this.isolate(pending, error);
          if (restart !== undefined) throw restart;
        } else if (!isRetriable(error)) throw error;
        metrics.commitFailures.inc();
        this.health = 'unhealthy';
        this.healthDetail = `commit failing: ${(error as Error).message}`;
        if (this.backOff.stopping) {
          // No later commit may be made: it would move the offsets past these events.
          this.closed = true;
          logger.warn(
            { err: error, partitions: pending.map((p) => p.state.partition) },
            'stopped without committing the last events (Postgres failing); they are read again at the next start',
          );
          return;
        }
        if (!this.failing)
          logger.warn({ err: error }, 'commit failed; Postgres unreachable? retrying with back-off');
        this.failing = true;
        await this.backOff.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /**
   * A commit failed on its data. Narrows the suspect range of each partition it covered to the
   * records it held; a single record is quarantined. Returns the restart to throw, or undefined when
   * the commit held no record to blame (it is then retried like a transient failure).
   */
  private async isolate(
    pending: { state: PartitionState; commit: PartitionCommit }[],
    error: unknown,
  ): Promise<IsolationRestart | undefined> {
    const { store, group, topic, logger } = this.options;
    const reason = error instanceof StoreRejectedError ? error.reason : undefined;
    const detail = `commit failed: ${(error as Error).message}${reason ? ` (SQLSTATE ${reason})` : ''}`;
    let blamed = false;
    for (const { state, commit } of pending) {
      const from = this.durable.get(state.partition) ?? commit.committedOffset;
      const to = commit.committedOffset;
      if (to - from === 1 && pending.length === 1) {
        await this.retrying(`quarantine offset ${from}`, () =>
          store.quarantine(group, topic, state.partition, state.epoch, { offset: from, detail }),
        ).catch((e: unknown) => {
          if (!(e instanceof FencedError)) throw e;
        });
        this.suspects.delete(state.partition);
        logger.error(
          { partition: state.partition, offset: from, err: error },
          'a record cannot be committed: isolated, and dead-lettered as unstorable',
        );
        blamed = true;
      } else if (to > from) {
        this.suspects.set(state.partition, { from, to, halfDone: false });
        blamed = true;
      }
    }
    if (!blamed) {
      logger.error({ err: error }, 'a commit without new records fails on its data; retrying');
      return undefined;
    }
    this.health = 'unhealthy';
    this.healthDetail = 'isolating a record whose commit fails';
    logger.warn(
      { suspects: Object.fromEntries(this.suspects), err: error },
      'commit failed on its data: restarting the partitions to isolate the record',
    );
    this.isolation = new IsolationRestart(detail, { cause: error });
    return this.isolation;
  }

  private afterCommit(states: PartitionState[]): void {
    const { metrics } = this.options;
    const now = this.clock();
    for (const state of states) {
      const c = state.counters;
      for (const [type, n] of c.byType) metrics.events.inc({ event_type: type }, n);
      for (const [reason, n] of c.deadLetters) {
        metrics.deadLetters.inc({ reason }, n);
        if (reason === 'late') metrics.lateEvents.inc(n);
      }
      if (c.duplicates > 0) metrics.duplicates.inc(c.duplicates);
      c.byType.clear();
      c.deadLetters.clear();
      c.duplicates = 0;
    }
    const watermark = this.watermark();
    if (watermark !== undefined) {
      metrics.watermark.set(watermark / 1e6);
      metrics.watermarkLag.set(Math.max(0, (now * MICROS_PER_MS - watermark) / 1e6));
    }
    let open = 0;
    let keys = 0;
    for (const state of this.partitions.values()) {
      open += state.openWindows();
      keys += state.dedupKeys();
    }
    metrics.openWindows.set(open);
    metrics.dedupKeys.set(keys);
  }

  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let backoff = 100;
    for (;;) {
      try {
        const result = await fn();
        return result;
      } catch (error) {
        if (!isRetriable(error)) throw error;
        this.health = 'unhealthy';
        this.healthDetail = `${what}: ${(error as Error).message}`;
        if (this.backOff.stopping) throw error;
        this.options.logger.warn({ err: error }, `${what} failed; retrying`);
        await this.backOff.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }
}
