/**
 * The newest event time of the busy partitions of each processor thread of one process, in shared
 * memory. An idle partition follows the busiest partition (docs/semantics.md, "Idle partitions");
 * with processor threads the busiest one may be another thread's, which this slot array shows it.
 * Each thread writes only its own slot; reads take the largest. A value is at most one batch old,
 * and every advance it causes is recorded with the partition (replayed identically after a crash).
 */
const NONE = -(2n ** 63n);

export class BusyWatermarks {
  private readonly slots: BigInt64Array;
  private readonly index: number;

  /** Memory for `threads` slots, none busy: handed to every thread (worker data). */
  static memory(threads: number): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer(8 * threads);
    new BigInt64Array(buffer).fill(NONE);
    return buffer;
  }

  constructor(memory: SharedArrayBuffer, index: number) {
    this.slots = new BigInt64Array(memory);
    if (!Number.isInteger(index) || index < 0 || index >= this.slots.length) {
      throw new RangeError(`busy watermark slot ${index} of ${this.slots.length}`);
    }
    this.index = index;
  }

  /** This thread's busy partitions' newest event time (µs), or -Infinity when none is busy. */
  publish(maxTsMicros: number): void {
    Atomics.store(this.slots, this.index, Number.isFinite(maxTsMicros) ? BigInt(maxTsMicros) : NONE);
  }

  /** The newest of every thread's (µs), or -Infinity when no thread has a busy partition. */
  max(): number {
    let max = NONE;
    for (let i = 0; i < this.slots.length; i++) {
      const v = Atomics.load(this.slots, i);
      if (v > max) max = v;
    }
    return max === NONE ? Number.NEGATIVE_INFINITY : Number(max);
  }
}
