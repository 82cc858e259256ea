/**
 * The lake writers' commit log in Postgres (schema `lake`, src/db/migrations/lake): a writer's
 * position per partition, fenced by an epoch, and the files of every commit. One transaction
 * moves the position and lists the files, so "these files exist" and "these offsets are done"
 * are one fact: a crash leaves either both or neither.
 */
import type pg from 'pg';
import { withTransaction } from '../../db/index.ts';
import { query } from '../../db/index.ts';
import { FencedError } from '../../errors.ts';

/** A file written under `_staging/` and named for where it goes once committed. */
export interface StagedFile {
  key: string;
  stagingKey: string;
  rows: number;
  bytes: number;
}

export interface CommittedFile extends StagedFile {
  partition: number;
  firstOffset: number;
  lastOffset: number;
}

export interface WriterClaim {
  partition: number;
  epoch: number;
  /** Next offset to process: everything before it is in committed files. */
  committedOffset: number;
  /** Re-read from here to rebuild the writer's in-memory state (≤ committedOffset). */
  replayOffset: number;
  state: unknown;
  /** Files committed but not yet moved into place (a crash came between commit and move). */
  unpublished: CommittedFile[];
}

export interface PartitionFiles {
  partition: number;
  epoch: number;
  /** Offsets of the first and last record the files hold. */
  firstOffset: number;
  lastOffset: number;
  committedOffset: number;
  replayOffset: number;
  state: unknown;
  files: StagedFile[];
}

const CLAIM = `
INSERT INTO lake.writer_partitions (writer, topic, partition, epoch, owner)
VALUES ($1, $2, $3, 1, $4)
ON CONFLICT (writer, topic, partition)
DO UPDATE SET epoch = lake.writer_partitions.epoch + 1, owner = EXCLUDED.owner, updated_at = now()
RETURNING epoch, committed_offset, replay_offset, state`;

const UNPUBLISHED = `
SELECT key, staging_key, partition, first_offset, last_offset, rows, bytes
FROM lake.files WHERE writer = $1 AND topic = $2 AND partition = $3 AND NOT published
ORDER BY first_offset, key`;

const ADVANCE = `
UPDATE lake.writer_partitions p SET committed_offset = u.committed_offset, replay_offset = u.replay_offset,
  state = u.state, updated_at = now()
FROM unnest($3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::jsonb[])
  AS u(partition, epoch, committed_offset, replay_offset, state)
WHERE p.writer = $1 AND p.topic = $2 AND p.partition = u.partition AND p.epoch = u.epoch
RETURNING p.partition`;

const INSERT_FILES = `
INSERT INTO lake.files (key, staging_key, writer, topic, partition, first_offset, last_offset, rows, bytes)
SELECT k, s, $1, $2, p, f, l, r, b
FROM unnest($3::text[], $4::text[], $5::int[], $6::bigint[], $7::bigint[], $8::int[], $9::bigint[])
  AS u(k, s, p, f, l, r, b)`;

export class LakeCommitLog {
  private readonly pool: pg.Pool;
  readonly writer: string;
  readonly topic: string;

  constructor(pool: pg.Pool, writer: string, topic: string) {
    this.pool = pool;
    this.writer = writer;
    this.topic = topic;
  }

  /** Takes over a partition (bumping its epoch fences the previous owner) and loads where it stands. */
  async claim(partition: number, owner: string): Promise<WriterClaim> {
    return withTransaction(
      this.pool,
      async (client) => {
        const { rows } = await client.query<{
          epoch: number;
          committed_offset: number;
          replay_offset: number;
          state: unknown;
        }>(CLAIM, [this.writer, this.topic, partition, owner]);
        const row = rows[0]!;
        const files = await client.query(UNPUBLISHED, [this.writer, this.topic, partition]);
        return {
          partition,
          epoch: row.epoch,
          committedOffset: row.committed_offset,
          replayOffset: row.replay_offset,
          state: row.state,
          unpublished: files.rows.map(toCommittedFile),
        };
      },
      `claim ${this.writer} partition ${partition}`,
    );
  }

  /**
   * Commits the files and new positions of several partitions in one transaction. Throws a
   * FencedError naming the partitions another writer took over; then nothing is written.
   */
  async commit(commits: readonly PartitionFiles[]): Promise<void> {
    if (commits.length === 0) return;
    await withTransaction(
      this.pool,
      async (client) => {
        const advanced = await client.query<{ partition: number }>(ADVANCE, [
          this.writer,
          this.topic,
          commits.map((c) => c.partition),
          commits.map((c) => c.epoch),
          commits.map((c) => c.committedOffset),
          commits.map((c) => c.replayOffset),
          commits.map((c) => (c.state === undefined ? null : JSON.stringify(c.state))),
        ]);
        if (advanced.rowCount !== commits.length) {
          const kept = new Set(advanced.rows.map((r) => r.partition));
          const fenced = commits.map((c) => c.partition).filter((p) => !kept.has(p));
          throw new FencedError(
            `${this.writer}: partitions ${fenced.join(', ')} were taken over by another writer; this one stops writing for them`,
            fenced,
          );
        }
        const files = commits.flatMap((c) =>
          c.files.map((f) => ({
            ...f,
            partition: c.partition,
            firstOffset: c.firstOffset,
            lastOffset: c.lastOffset,
          })),
        );
        if (files.length > 0) {
          await client.query(INSERT_FILES, [
            this.writer,
            this.topic,
            files.map((f) => f.key),
            files.map((f) => f.stagingKey),
            files.map((f) => f.partition),
            files.map((f) => f.firstOffset),
            files.map((f) => f.lastOffset),
            files.map((f) => f.rows),
            files.map((f) => f.bytes),
          ]);
        }
      },
      `${this.writer} commit`,
    );
  }

  /** The files are in place: recoveries need not move them again. */
  async markPublished(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await query(
      this.pool,
      'UPDATE lake.files SET published = true WHERE key = ANY($1::text[])',
      [keys],
      'mark published',
    );
  }

  /** Every committed file of this writer (tests, ops). */
  async files(): Promise<CommittedFile[]> {
    const { rows } = await query(
      this.pool,
      `SELECT key, staging_key, partition, first_offset, last_offset, rows, bytes
       FROM lake.files WHERE writer = $1 AND topic = $2 ORDER BY partition, first_offset, key`,
      [this.writer, this.topic],
    );
    return rows.map(toCommittedFile);
  }
}

function toCommittedFile(r: Record<string, unknown>): CommittedFile {
  return {
    key: r.key as string,
    stagingKey: r.staging_key as string,
    partition: r.partition as number,
    firstOffset: r.first_offset as number,
    lastOffset: r.last_offset as number,
    rows: r.rows as number,
    bytes: r.bytes as number,
  };
}
