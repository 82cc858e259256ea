/**
 * What the Kafka suites share: the broker address (a missing broker fails the suite: it is never
 * skipped), unique topic and group names, a Kafka bus that deletes the topics it created, a
 * handler that records what a source did, and waiting on a condition with a deadline.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';
import { pino } from 'pino';
import { KafkaBus, type KafkaBusOptions } from '../../src/bus/kafka/index.ts';
import type { BusRecord, SourceHandler, TopicInfo } from '../../src/bus/types.ts';
import type { Logger } from '../../src/telemetry/logger.ts';

export function kafkaBrokers(): string[] {
  const value = process.env.KAFKA_BROKERS?.trim();
  if (!value) {
    throw new Error(
      'KAFKA_BROKERS is not set: the Kafka suite needs a real broker. Start one with ' +
        '`npm run kafka:local -- start`, then run `KAFKA_BROKERS=127.0.0.1:19092 npm run test:kafka`',
    );
  }
  return value.split(',').map((b) => b.trim());
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Quick group membership changes for tests; production defaults are 30 s and 3 s. */
export const TEST_GROUP_TIMING = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 300,
  rebalanceTimeoutMs: 10_000,
};

/** A KafkaBus that remembers the topics it created, so `deleteCreatedTopics` can remove them. */
export class TestKafkaBus extends KafkaBus {
  readonly created = new Set<string>();

  override async ensureTopic(name: string, partitions: number): Promise<TopicInfo> {
    this.created.add(name);
    return super.ensureTopic(name, partitions);
  }
}

export function testBus(options: Partial<KafkaBusOptions> = {}): TestKafkaBus {
  return new TestKafkaBus({
    brokers: kafkaBrokers(),
    clientId: 'rtsa-test',
    ...TEST_GROUP_TIMING,
    ...options,
  });
}

export async function deleteTopics(topics: Iterable<string>): Promise<void> {
  const names = [...topics];
  if (names.length === 0) return;
  const admin = new Admin({ clientId: 'rtsa-test-cleanup', bootstrapBrokers: kafkaBrokers() });
  try {
    const existing = new Set(await admin.listTopics());
    const doomed = names.filter((t) => existing.has(t));
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed });
  } finally {
    await admin.close();
  }
}

export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A pino logger whose lines the test can read back. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      raw.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return {
    logger,
    lines: () =>
      raw
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Who owns which partition right now, across all members of a test: two owners at once is a bug. */
export class Ownership {
  readonly owner = new Map<number, string>();
  readonly violations: string[] = [];
  readonly events: string[] = [];

  assign(member: string, partitions: readonly number[]): void {
    for (const p of partitions) {
      const current = this.owner.get(p);
      if (current !== undefined && current !== member) {
        this.violations.push(`partition ${p} assigned to ${member} while ${current} still owns it`);
      }
      this.owner.set(p, member);
    }
    this.events.push(`${member} +${partitions.join(',')}`);
  }

  revoke(member: string, partitions: readonly number[]): void {
    for (const p of partitions) {
      if (this.owner.get(p) === member) this.owner.delete(p);
      else this.violations.push(`partition ${p} revoked from ${member} which did not own it`);
    }
    this.events.push(`${member} -${partitions.join(',')}`);
  }

  partitionsOf(member: string): number[] {
    return [...this.owner]
      .filter(([, m]) => m === member)
      .map(([p]) => p)
      .sort((a, b) => a - b);
  }
}

export interface RecorderOptions {
  name?: string;
  /** Offset to start each assigned partition at; undefined leaves it out of the map. */
  startAt?: (partition: number) => number | undefined;
  ownership?: Ownership;
  /** Runs inside `records`, e.g. to slow the handler down or make it throw. */
  onRecords?: (batch: readonly BusRecord[]) => Promise<void> | void;
}

/** A SourceHandler that writes down every call. */
export class Recorder implements SourceHandler {
  readonly name: string;
  readonly received: BusRecord[] = [];
  readonly batches: number[] = [];
  readonly calls: string[] = [];
  readonly owned = new Set<number>();
  idles = 0;
  inFlight = 0;
  maxInFlight = 0;
  readonly #options: RecorderOptions;

  constructor(options: RecorderOptions = {}) {
    this.name = options.name ?? 'member';
    this.#options = options;
  }

  async assigned(partitions: readonly number[]): Promise<Map<number, number>> {
    this.#enter();
    try {
      this.calls.push(`assigned ${partitions.join(',')}`);
      for (const p of partitions) this.owned.add(p);
      this.#options.ownership?.assign(this.name, partitions);
      const offsets = new Map<number, number>();
      for (const p of partitions) {
        const offset = this.#options.startAt ? this.#options.startAt(p) : 0;
        if (offset !== undefined) offsets.set(p, offset);
      }
      return offsets;
    } finally {
      this.#leave();
    }
  }

  async revoked(partitions: readonly number[]): Promise<void> {
    this.#enter();
    try {
      this.calls.push(`revoked ${partitions.join(',')}`);
      for (const p of partitions) this.owned.delete(p);
      this.#options.ownership?.revoke(this.name, partitions);
    } finally {
      this.#leave();
    }
  }

  async records(batch: readonly BusRecord[]): Promise<void> {
    this.#enter();
    try {
      for (const r of batch) {
        if (!this.owned.has(r.partition))
          throw new Error(`${this.name} got a record of partition ${r.partition} it does not own`);
      }
      await this.#options.onRecords?.(batch);
      this.batches.push(batch.length);
      this.received.push(...batch);
      await sleep(1); // let anything that would run concurrently show up in maxInFlight
    } finally {
      this.#leave();
    }
  }

  async idle(): Promise<void> {
    this.#enter();
    this.idles++;
    this.#leave();
  }

  #enter(): void {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
  }

  #leave(): void {
    this.inFlight--;
  }
}
