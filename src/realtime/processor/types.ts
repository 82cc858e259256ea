/**
 * What the processor hands to, and reads back from, the result store. The Postgres
 * implementation is `src/realtime/serving/results-writer.ts`; the processor knows only this interface.
 */

/**
 * Where a partition stands, as persisted with every commit: everything before `committedOffset`
 * is in the tables, and replaying from `replayOffset` rebuilds the in-memory state.
 */
export interface ProcessorPosition {
  /** Next offset to process; everything before it is reflected in the tables. */
  committedOffset: number;
  /** Re-read from here (before committedOffset) to rebuild the in-memory state. */
  replayOffset: number;
  /** Max event time (µs) of the records before replayOffset, or undefined when none. */
  replayMaxTs: number | undefined;
  /** Windows before this minute (µs) are final and folded into the viewer sets. */
  compactedThrough: number | undefined;
  /** Max event time (µs) at committedOffset, idle advances included. */
  maxTs: number | undefined;
  /** Watermark advances made while the partition was idle, at the offset where they happened. */
  idleMarks: IdleMark[];
}

/** A partition's persisted position and folded state, as claimed by one processor. */
export interface ClaimedPartition extends ProcessorPosition {
  partition: number;
  /** Fencing token: every commit for this partition must carry it. */
  epoch: number;
  /** Viewers present per stream as of compactedThrough. */
  viewers: Map<string, string[]>;
}

export interface IdleMark {
  /** Applies before the record at this offset. */
  offset: number;
  maxTs: number;
}

export interface WindowRow {
  windowStart: number;
  streamId: string;
  activeViewers: number;
  chatMessages: number;
  donationMicros: number;
  donationCount: number;
  viewerJoins: number;
  viewerLeaves: number;
  events: number;
  isFinal: boolean;
}

export interface StreamStateRow {
  streamId: string;
  activeViewers: number;
  lastEventTs: number;
}

export interface DeadLetterRow {
  partition: number;
  offset: number;
  reason: string;
  detail: string;
  raw: Buffer;
  eventId: string | undefined;
  streamId: string | undefined;
  eventTs: number | undefined;
}

/** What one partition writes in a commit: its new position and what changed since the last one. */
export interface PartitionCommit extends ProcessorPosition {
  partition: number;
  epoch: number;
  windows: WindowRow[];
  streams: StreamStateRow[];
  viewersAdded: { streamId: string; userId: string }[];
  viewersRemoved: { streamId: string; userId: string }[];
  deadLetters: DeadLetterRow[];
}

export interface ResultStore {
  /** Takes ownership of a partition (bumping its epoch, which fences the previous owner) and loads its state. */
  claim(group: string, topic: string, partition: number, owner: string): Promise<ClaimedPartition>;
  /** Writes results, state and positions of several partitions in one transaction. Throws FencedError naming fenced partitions. */
  commit(group: string, topic: string, commits: readonly PartitionCommit[]): Promise<CommitStats>;
}

export interface CommitStats {
  windows: number;
  streams: number;
  deadLetters: number;
}
