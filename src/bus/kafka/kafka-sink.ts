import { setTimeout as sleep } from 'node:timers/promises';
import { type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import { BusUnavailableError } from '../../errors.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { partitionForKey } from '../partitioner.ts';
import type { OutgoingMessage, Sink } from '../types.ts';
import { BrokerHealth, backoffMs, describeKafkaError } from './broker-health.ts';
import { isUnknownTopic } from './unknown-topic.ts';

export interface KafkaSinkSettings {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** How long `send` keeps retrying an unreachable broker before it rejects with BusUnavailableError. */
  sendTimeoutMs: number;
  /** Called once the sink is closed. */
  onClosed?: () => void;
}

/**
 * An idempotent producer (acks=all, one request in flight, so retries neither duplicate nor reorder).
 * Each message goes to `partitionForKey(key, partitions)`: the same partition as Kafka's Java
 * clients and the embedded log. The client's own default partitioner takes murmur2 as unsigned
 * (`>>> 0`) where Java masks the sign bit, so it would disagree for half the keys.
 */
export class KafkaSink implements Sink {
  readonly #settings: KafkaSinkSettings;
  readonly #health: BrokerHealth;
  #producer: Producer | undefined;
  #closed = false;

  constructor(settings: KafkaSinkSettings) {
    this.#settings = settings;
    this.#health = new BrokerHealth(settings.logger, settings.brokers, 'producer');
  }

  async send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.#closed) throw new Error('send() after close(): this Kafka sink is closed');
    if (messages.length === 0) return;
    const producer = this.#currentProducer();
    const { sendTimeoutMs } = this.#settings;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new AbortController();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        gaveUp.abort();
        const problem = this.#health.lastProblem();
        reject(
          new BusUnavailableError(
            `Kafka did not acknowledge ${messages.length} message(s) for topic ${topic} within ${sendTimeoutMs / 1000} s` +
              `${problem ? ` (${problem})` : ''}, brokers ${this.#settings.brokers.join(',')}: ` +
              'check that Kafka is running and KAFKA_BROKERS is right',
          ),
        );
      }, sendTimeoutMs);
    });
    try {
      await Promise.race([this.#produce(producer, topic, messages, gaveUp.signal), deadline]);
      this.#health.ok();
    } catch (error) {
      if (error instanceof BusUnavailableError) {
        // Stop the retries still running inside the client; the next send starts a fresh producer.
        this.#discard(producer);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const producer = this.#producer;
    this.#producer = undefined;
    try {
      await producer?.close(true);
    } finally {
      this.#settings.onClosed?.();
    }
  }

  async #produce(
    producer: Producer,
    topic: string,
    messages: readonly OutgoingMessage[],
    signal: AbortSignal,
  ): Promise<void> {
    const partitions = await this.#partitionCount(producer, topic, signal);
    if (partitions < 1) throw new BusUnavailableError(`Kafka reports no partitions for topic "${topic}"`);
    const batch: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[] = messages.map((m) => ({
      topic,
      key: Buffer.from(m.key, 'utf8'),
      value: typeof m.value === 'string' ? Buffer.from(m.value, 'utf8') : m.value,
      partition: partitionForKey(m.key, partitions),
    }));
    // In order, one request after the other: per-key order holds across the pieces.
    for (const piece of splitForRecordBatches(batch)) {
      if (signal.aborted) return;
      try {
        await producer.send({ messages: piece });
      } catch (error) {
        throw this.#wrap(error, producer, topic);
      }
    }
  }

  /**
   * The topic's partition count from (cached) metadata. A missing topic fails at once; an
   * unreachable broker is retried with back-off until `signal` says the send gave up.
   */
  async #partitionCount(producer: Producer, topic: string, signal: AbortSignal): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const metadata = await producer.metadata({ topics: [topic], retries: 0 });
        return metadata.topics.get(topic)?.partitionsCount ?? 0;
      } catch (error) {
        if (isUnknownTopic(error)) {
          throw new Error(`Kafka topic "${topic}" does not exist: create it first (Bus.ensureTopic)`, {
            cause: error,
          });
        }
        if (signal.aborted || producer.closed) throw this.#wrap(error, producer, topic);
        const delay = backoffMs(attempt);
        this.#health.failed(error, delay, 'metadata');
        await sleep(delay);
      }
    }
  }

  #wrap(error: unknown, producer: Producer, topic: string): Error {
    // Discarded after another send timed out: its retries end with "client closed".
    if (this.#producer !== producer || producer.closed) {
      return new BusUnavailableError(`Kafka producer closed while sending to ${topic}`, { cause: error });
    }
    return new Error(`Kafka rejected the messages for topic ${topic}: ${describeKafkaError(error)}`, {
      cause: error,
    });
  }

  #currentProducer(): Producer {
    if (this.#producer) return this.#producer;
    const { brokers, clientId } = this.#settings;
    const producer = new Producer({
      clientId,
      bootstrapBrokers: brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      // Retry inside the client (same producer id and sequence numbers, so the broker drops
      // duplicates) until `sendTimeoutMs` gives up and discards the producer.
      retries: Number.MAX_SAFE_INTEGER,
      retryDelay: (_client, operation, attempt, _retries, error) => {
        const delay = backoffMs(attempt);
        this.#health.failed(error, delay, operation);
        return delay;
      },
      connectTimeout: 5_000,
      timeout: 30_000,
    });
    this.#producer = producer;
    return producer;
  }

  #discard(producer: Producer): void {
    if (this.#producer === producer) this.#producer = undefined;
    producer.close(true).catch((error: unknown) => {
      this.#settings.logger.debug({ err: error }, 'kafka producer: close after timeout failed');
    });
  }
}

/**
 * The client writes everything a request holds for one partition as one record batch, and the
 * broker refuses a batch over the topic's max.message.bytes (1 MiB by default): so a large send is
 * cut into requests of at most this much per partition. A single bigger record still goes alone.
 */
const MAX_PARTITION_BYTES_PER_REQUEST = 512 * 1024;
/** Bytes a record adds to its batch besides key and value (varints, attributes, headers count). */
const RECORD_OVERHEAD_BYTES = 24;

export function splitForRecordBatches<M extends { key?: Buffer; value?: Buffer; partition?: number }>(
  messages: readonly M[],
  maxBytes = MAX_PARTITION_BYTES_PER_REQUEST,
): M[][] {
  const pieces: M[][] = [];
  let current: M[] = [];
  const bytes = new Map<number, number>();
  for (const message of messages) {
    const size = (message.key?.length ?? 0) + (message.value?.length ?? 0) + RECORD_OVERHEAD_BYTES;
    const partition = message.partition ?? -1;
    const used = bytes.get(partition) ?? 0;
    if (used > 0 && used + size > maxBytes) {
      pieces.push(current);
      current = [];
      bytes.clear();
    }
    current.push(message);
    bytes.set(partition, (bytes.get(partition) ?? 0) + size);
  }
  if (current.length > 0) pieces.push(current);
  return pieces;
}
