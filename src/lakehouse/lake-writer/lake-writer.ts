/**
 * Drives one lake layer (bronze, silver) from a Source, exactly once into files.
 *
 * A commit of a partition's new records:
 *   1. the layer turns them into files, each named for where readers will find it
 *      (deterministic: the same offset range always gets the same name);
 *   2. each file is written under `_staging/<writer>/<topic>/p<partition>/…`, which no reader globs;
 *   3. ONE Postgres transaction moves the partition's position and lists the files (fenced by
 *      the partition's epoch: a writer that lost the partition commits nothing);
 *   4. the files are moved into place (an atomic rename, or an S3 copy), then marked published.
 * A crash before 3 leaves only staged files, which no commit lists: the next owner deletes them
 * and re-processes the range. A crash after 3 leaves committed files still staged: the next owner
 * moves them into place before anything else. So every record reaches the layer exactly once, and
 * a reader never sees a file that is not committed.
 */
import type { Logger } from 'pino';
import { BackOff } from '../../bus/back-off.ts';
import type { BusRecord, SourceHandler } from '../../bus/types.ts';
import { FencedError, isRetriable } from '../../errors.ts';
import type { CommittedFile, LakeCommitLog, PartitionFiles, StagedFile, WriterClaim } from './commit-log.ts';
import { STAGING_PREFIX, type LakeStore } from '../lake-store/lake-store.ts';

/** A file a layer made from a batch, named for its place in the lake. */
export interface LayerFile {
  key: string;
  bytes: Uint8Array;
  rows: number;
}

/** What a layer hands over at a commit. */
export interface LayerOutput {
  files: LayerFile[];
  /** Re-read from here to rebuild the layer's state after a restart (default: the next offset). */
  replayOffset?: number;
  /** Kept in Postgres with the position, given back on claim. */
  state?: unknown;
}

/** One partition of a layer: folds records in, hands files out. */
export interface LayerPartition {
  /** A record past the committed offset: its output goes into the next commit. */
  ingest(record: BusRecord, nowMs: number): void;
  /** A record before the committed offset, re-read to rebuild state: no output. */
  replay?(record: BusRecord, nowMs: number): void;
  /** Time passes with no record (idle partitions must not stall the layer). */
  tick?(nowMs: number): void;
  /** Something to commit. */
  readonly pending: boolean;
  /** Everything since the last take. */
  take(nowMs: number): LayerOutput;
}

export interface Layer {
  /** Names the writer in Postgres and in staging: `bronze`, `silver`. */
  readonly name: string;
  open(claim: WriterClaim): LayerPartition;
}

export interface LakeWriterOptions {
  layer: Layer;
  store: LakeStore;
  log: LakeCommitLog;
  /** Who we are in lake.writer_partitions.owner (host:pid). */
  owner: string;
  flushIntervalMs: number;
  /** Most records taken into one commit. */
  maxBatchRecords: number;
  logger: Logger;
  clock?: () => number;
  /** Called after each durable commit (metrics). */
  onCommit?: (stats: { records: number; files: number; bytes: number; seconds: number }) => void;
}

interface PartitionSlot {
  claim: WriterClaim;
  layer: LayerPartition;
  /** Next offset to process; records before it are replayed, not ingested. */
  position: number;
  /** Next offset not yet in committed files. */
  committed: number;
  /** Offsets of the records taken since the last commit. */
  first: number | undefined;
  last: number | undefined;
  records: number;
}

const MAX_BACKOFF_MS = 5_000;
/** What `retrying` returns when it gave up because the process is stopping. */
const GAVE_UP = Symbol('gave up at stop');
/** Files staged at once (an S3 PUT each, or a local write and fsync). */
const STAGING_CONCURRENCY = 4;
/**
 * The source has nothing more to read (it calls `idle`) and this share of a full batch waits:
 * commit it now instead of waiting out the flush interval. Draining a backlog (a restart, a
 * pre-filled log) ends with a partial batch that no more records will grow, and waiting for the
 * interval only delays it (1M events on 2 threads sat idle ~2 s of 12 at a 2 s interval). A live
 * trickle keeps the interval: its source is rarely idle (500 ms with no record), and when it is,
 * fewer records than this wait so that files stay large.
 */
const CAUGHT_UP_SHARE = 0.1;

export class LakeWriter implements SourceHandler {
  private readonly options: LakeWriterOptions;
  private readonly clock: () => number;
  private readonly partitions = new Map<number, PartitionSlot>();
  private lastCommitAt: number;
  private recordsSinceCommit = 0;
  /** The I/O of the last commit, while it runs (see commit). */
  private inflight: Promise<void> | undefined;
  private closed = false;
  private readonly backOff = new BackOff();
  health: 'starting' | 'running' | 'unhealthy' = 'starting';
  healthDetail: string | undefined;

  constructor(options: LakeWriterOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
    this.lastCommitAt = this.clock();
  }

  /** The committed offset (next record not yet in the lake) of each partition this writer holds. */
  committedOffsets(): Map<number, number> {
    const offsets = new Map<number, number>();
    for (const [p, slot] of this.partitions) offsets.set(p, slot.committed);
    return offsets;
  }

  private stagingPrefix(partition: number): string {
    const { layer, log } = this.options;
    return `${STAGING_PREFIX}${layer.name}/${log.topic}/p${partition}/`;
  }

  async assigned(partitions: readonly number[]): Promise<Map<number, number>> {
    const { log, owner, logger } = this.options;
    const starts = new Map<number, number>();
    for (const p of partitions) {
      const claim = await this.retrying(`claim partition ${p}`, () => log.claim(p, owner));
      if (
        claim === GAVE_UP ||
        (await this.retrying(`recover partition ${p}`, () => this.recover(claim))) === GAVE_UP
      )
        throw new Error(`${log.writer}: stopped while taking partition ${p} (Postgres or the store failing)`);
      this.partitions.set(p, {
        claim,
        layer: this.options.layer.open(claim),
        position: claim.committedOffset,
        committed: claim.committedOffset,
        first: undefined,
        last: undefined,
        records: 0,
      });
      starts.set(p, claim.replayOffset);
      logger.info(
        {
          writer: this.options.layer.name,
          partition: p,
          epoch: claim.epoch,
          committedOffset: claim.committedOffset,
        },
        'lake partition assigned',
      );
    }
    if (this.partitions.size > 0) this.health = 'running';
    return starts;
  }

  /**
   * Finishes what a crash interrupted: committed files still staged are moved into place, and
   * staged files no commit lists (written before a crash, never committed) are deleted.
   * Only files of older epochs are deleted: a staged file is named `<epoch>-…`, and one of an
   * older epoch missing from this claim's list can never be committed any more (its writer is
   * fenced). A file of this claim's epoch or a newer one is left alone: a writer that froze after
   * its claim may be a zombie by now, and a newer owner's committed files may be staged there.
   */
  private async recover(claim: WriterClaim): Promise<void> {
    const { store, log, logger } = this.options;
    await this.publish(claim.unpublished);
    const prefix = this.stagingPrefix(claim.partition);
    const orphans = (await store.list(prefix)).filter((key) => {
      const epoch = Number.parseInt(key.slice(prefix.length), 10);
      return !(epoch >= claim.epoch);
    });
    if (orphans.length > 0) {
      await store.delete(orphans);
      logger.info(
        { writer: log.writer, partition: claim.partition, files: orphans.length },
        'deleted staged files of an uncommitted batch',
      );
    }
  }

  private async publish(files: readonly (StagedFile | CommittedFile)[]): Promise<void> {
    if (files.length === 0) return;
    const { store, log } = this.options;
    for (const f of files) {
      if (await store.exists(f.stagingKey)) {
        try {
          await store.move(f.stagingKey, f.key);
          continue;
        } catch (error) {
          // Another writer of the partition (a newer owner, or a zombie finishing its recovery)
          // moved it meanwhile: it is in place.
          if ((await store.exists(f.stagingKey)) || !(await store.exists(f.key))) throw error;
          continue;
        }
      }
      if (!(await store.exists(f.key))) {
        throw new LostFileError(
          `${log.writer}: committed file ${f.key} is neither staged (${f.stagingKey}) nor in place in ${store.location}; ` +
            'something outside rtsa deleted it: restore it from a backup, or re-process the partition',
        );
      }
    }
    await log.markPublished(files.map((f) => f.key));
  }

  async revoked(partitions: readonly number[]): Promise<void> {
    await this.commit({ wait: true }).catch((error: unknown) => {
      this.options.logger.warn({ err: error }, 'final lake commit before giving up partitions failed');
    });
    for (const p of partitions) this.partitions.delete(p);
  }

  async records(batch: readonly BusRecord[]): Promise<void> {
    const now = this.clock();
    for (const record of batch) {
      const slot = this.partitions.get(record.partition);
      if (slot === undefined) continue;
      if (record.offset < slot.position) {
        slot.layer.replay?.(record, now);
        continue;
      }
      slot.layer.ingest(record, now);
      slot.position = record.offset + 1;
      slot.first ??= record.offset;
      slot.last = record.offset;
      slot.records++;
      // A read batch may hold more records than a commit may: the commit comes at the limit.
      if (++this.recordsSinceCommit >= this.options.maxBatchRecords) await this.commit();
    }
    if (this.commitDue(now)) await this.commit();
  }

  async idle(): Promise<void> {
    const now = this.clock();
    for (const slot of this.partitions.values()) slot.layer.tick?.(now);
    const caughtUp = this.recordsSinceCommit >= this.options.maxBatchRecords * CAUGHT_UP_SHARE;
    if (caughtUp || this.commitDue(now)) await this.commit();
  }

  /**
   * The process is stopping (called before the source stops): a failing stage, commit or publish
   * gives up at its next failure instead of retrying until durable (BackOff).
   */
  stopRetrying(): void {
    this.backOff.stop();
  }

  async close(): Promise<void> {
    await this.commit({ wait: true });
    this.closed = true;
  }

  private commitDue(now: number): boolean {
    if (this.recordsSinceCommit >= this.options.maxBatchRecords) return true;
    if (now - this.lastCommitAt < this.options.flushIntervalMs) return false;
    for (const slot of this.partitions.values()) if (slot.layer.pending || slot.records > 0) return true;
    return false;
  }

  /**
   * Takes everything pending from the layers, then stages, commits and publishes it, retried with
   * back-off until durable. The files' I/O (staging, the Postgres commit, publishing) goes on while
   * the source reads the next records; the next commit waits for it before it takes anything, so
   * commits stay one at a time and in order (`wait`: return only once this one is durable too).
   * A failure of that I/O is thrown by the next call.
   */
  private async commit(options: { wait?: boolean } = {}): Promise<void> {
    await this.settle();
    if (this.closed) return;
    const started = performance.now();
    const now = this.clock();
    const commits: PartitionFiles[] = [];
    const files: LayerFile[] = [];
    let records = 0;
    for (const [partition, slot] of this.partitions) {
      if (!slot.layer.pending && slot.records === 0) continue;
      const out = slot.layer.take(now);
      const first = slot.first ?? slot.position;
      const last = slot.last ?? slot.position - 1;
      const staged: StagedFile[] = out.files.map((f, i) => ({
        key: f.key,
        stagingKey: `${this.stagingPrefix(partition)}${slot.claim.epoch}-${first}-${last}-${i}`,
        rows: f.rows,
        bytes: f.bytes.byteLength,
      }));
      commits.push({
        partition,
        epoch: slot.claim.epoch,
        firstOffset: first,
        lastOffset: last,
        committedOffset: slot.position,
        replayOffset: out.replayOffset ?? slot.position,
        state: out.state,
        files: staged,
      });
      files.push(...out.files);
      records += slot.records;
      slot.first = undefined;
      slot.last = undefined;
      slot.records = 0;
    }
    this.recordsSinceCommit = 0;
    this.lastCommitAt = now;
    if (commits.length === 0) return;
    const io = this.write(commits, files, records, started);
    if (options.wait) return io;
    this.inflight = io;
    // Observed by the next settle(); not an unhandled rejection meanwhile.
    io.catch(() => {});
  }

  /** Waits for the commit whose I/O is still running, and throws its failure. */
  private async settle(): Promise<void> {
    const inflight = this.inflight;
    if (inflight === undefined) return;
    this.inflight = undefined;
    await inflight;
  }

  private async write(
    commits: PartitionFiles[],
    layerFiles: readonly LayerFile[],
    records: number,
    started: number,
  ): Promise<void> {
    const { store, log, logger } = this.options;
    const staged = commits.flatMap((c) => c.files);
    const stagedAll = await this.retrying('stage files', () =>
      inParallel(staged.length, STAGING_CONCURRENCY, (i) =>
        store.put(staged[i]!.stagingKey, layerFiles[i]!.bytes),
      ).then(() => true),
    );
    if (stagedAll === GAVE_UP) return this.gaveUp(records);
    let pending = commits;
    let backoff = 100;
    for (;;) {
      try {
        await log.commit(pending);
        break;
      } catch (error) {
        if (error instanceof FencedError) {
          for (const p of error.partitions) this.partitions.delete(p);
          pending = pending.filter((c) => !error.partitions.includes(c.partition));
          logger.warn({ partitions: error.partitions }, error.message);
          if (pending.length === 0) return;
          continue;
        }
        if (!isRetriable(error)) throw error;
        this.unhealthy('commit failing', error);
        if (this.backOff.stopping) return this.gaveUp(records);
        await this.backOff.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    for (const c of pending) {
      const slot = this.partitions.get(c.partition);
      if (slot !== undefined) slot.committed = c.committedOffset;
    }
    const files = pending.flatMap((c) => c.files);
    // Committed: a publish given up at stop is finished by the next claim's recovery.
    if ((await this.retrying('publish files', () => this.publish(files))) === GAVE_UP) return;
    this.health = 'running';
    this.healthDetail = undefined;
    this.options.onCommit?.({
      records,
      files: files.length,
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      seconds: (performance.now() - started) / 1000,
    });
  }

  private unhealthy(what: string, error: unknown): void {
    if (this.health !== 'unhealthy')
      this.options.logger.warn({ err: error }, `${what}; retrying with back-off`);
    this.health = 'unhealthy';
    this.healthDetail = `${what}: ${(error as Error).message}`;
  }

  /**
   * Retries `fn` with back-off while it fails in a way worth retrying; once the process is stopping,
   * gives up at the next failure (GAVE_UP).
   */
  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T | typeof GAVE_UP> {
    let backoff = 100;
    for (;;) {
      try {
        return await fn();
      } catch (error) {
        // Postgres errors come typed from db/; a lake store failing (disk, S3) is retried too,
        // except a lost file, which needs a person.
        if (error instanceof FencedError || error instanceof LostFileError) throw error;
        if (!isRetriable(error) && !isStoreFailure(error)) throw error;
        this.unhealthy(what, error);
        if (this.backOff.stopping) return GAVE_UP;
        await this.backOff.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /**
   * Stopping while the store or Postgres fails: this commit is dropped, and no later one may be
   * made (it would move the offsets past these records). They are read again at the next start.
   */
  private gaveUp(records: number): void {
    this.closed = true;
    this.options.logger.warn(
      { writer: this.options.log.writer, records },
      'stopped without committing the last records (the store or Postgres is failing); they are read again at the next start',
    );
  }
}

/** A committed file is gone from the store: retrying cannot bring it back. */
export class LostFileError extends Error {
  override name = 'LostFileError';
}

/** A failure of the file store (I/O, network, S3 5xx) rather than a bug: worth retrying. */
function isStoreFailure(error: unknown): boolean {
  const e = error as { code?: unknown; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  if (
    typeof e?.code === 'string' &&
    /^(EIO|ENOSPC|EAGAIN|EBUSY|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE)$/.test(e.code)
  )
    return true;
  const status = e?.$metadata?.httpStatusCode;
  return e?.$retryable !== undefined || (status !== undefined && status >= 500);
}

/** Runs task(0..count-1), at most `limit` at a time; rejects with the first failure, after all settled. */
async function inParallel(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, count) }, worker));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
}
