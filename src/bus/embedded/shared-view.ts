/**
 * The writer's view of one topic's partitions in shared memory, for readers on other threads of the
 * writing process (processor threads). Through it they read exactly what a reader on the writer's
 * thread reads — only durable records (fdatasync'ed with fsync='always'), never a record a crash of
 * the machine could take back — and wake when records are appended instead of polling the files.
 *
 * Layout of the SharedArrayBuffer: Int32 [0] a change counter (odd while the writer updates), then
 * from byte 8 three Float64 per partition: the active segment's base (-1 until the writer opens the
 * partition), its durable bytes, the next offset. One writer (the bus that appends), any number of
 * readers; a reader retries while the counter is odd or moved during its read (a seqlock).
 */
import type { LocalPartitionView } from './partition-log.ts';

const HEADER_BYTES = 8;
const FIELDS = 3;

export class SharedLogView {
  readonly buffer: SharedArrayBuffer;
  private readonly counter: Int32Array;
  private readonly values: Float64Array;
  readonly partitions: number;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.counter = new Int32Array(buffer, 0, 1);
    this.values = new Float64Array(buffer, HEADER_BYTES);
    this.partitions = this.values.length / FIELDS;
  }

  static create(partitions: number): SharedLogView {
    const view = new SharedLogView(new SharedArrayBuffer(HEADER_BYTES + partitions * FIELDS * 8));
    view.values.fill(-1);
    return view;
  }

  /** Writer: publishes the partitions' views (undefined: not opened here) and wakes the readers. */
  publish(views: readonly (LocalPartitionView | undefined)[]): void {
    Atomics.add(this.counter, 0, 1);
    for (let p = 0; p < this.partitions; p++) {
      const v = views[p];
      if (v === undefined) continue;
      this.values[p * FIELDS] = v.activeBase;
      this.values[p * FIELDS + 1] = v.durableBytes;
      this.values[p * FIELDS + 2] = v.nextOffset;
    }
    Atomics.add(this.counter, 0, 1);
    Atomics.notify(this.counter, 0);
  }

  /** Reader: partition `p` as the writer last published it, or undefined before it opened it. */
  read(p: number): LocalPartitionView | undefined {
    if (p >= this.partitions) return undefined;
    for (;;) {
      const before = Atomics.load(this.counter, 0);
      if (before % 2 === 1) continue;
      const activeBase = this.values[p * FIELDS]!;
      const durableBytes = this.values[p * FIELDS + 1]!;
      const nextOffset = this.values[p * FIELDS + 2]!;
      if (Atomics.load(this.counter, 0) !== before) continue;
      return activeBase < 0 ? undefined : { activeBase, durableBytes, nextOffset };
    }
  }

  /** Reader: the change counter now (pass it to `changedSince`). */
  version(): number {
    return Atomics.load(this.counter, 0);
  }

  /** Reader: resolves when the writer published after `version`, or after `ms`. */
  async changedSince(version: number, ms: number): Promise<void> {
    const wait = Atomics.waitAsync(this.counter, 0, version, ms);
    if (wait.async) await wait.value;
  }

  /** Wakes every reader waiting in `changedSince` (e.g. one closing). */
  wakeAll(): void {
    Atomics.notify(this.counter, 0);
  }
}
