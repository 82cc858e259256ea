import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, findErrorBy } from '@platformatic/kafka';
import { BusUnavailableError, ConfigError, errorMessage } from '../../errors.ts';
import { type Logger, silentLogger } from '../../telemetry/logger.ts';
import type { Bus, Sink, SourceOptions, TopicInfo } from '../types.ts';
import { backoffMs, isConnectionError } from './broker-health.ts';
import { KafkaSink } from './kafka-sink.ts';
import { KafkaSource } from './kafka-source.ts';
import { isUnknownTopic } from './unknown-topic.ts';

export interface KafkaBusOptions {
  /** Bootstrap servers, host:port (KAFKA_BROKERS). */
  brokers: string[];
  clientId?: string;
  logger?: Logger;
  /** Replicas of topics rtsa creates; -1 (default) takes the broker's default.replication.factor. */
  replicationFactor?: number;
  /** How long `Sink.send` and admin calls retry an unreachable broker before BusUnavailableError (default 30 s). */
  sendTimeoutMs?: number;
  /** Consumer group session timeout: how soon a dead member's partitions move (default 30 s). */
  sessionTimeoutMs?: number;
  /** Default 3 s; must be well below the session timeout. */
  heartbeatIntervalMs?: number;
  /** How long a rebalance waits for members to re-join, including the batch in progress and `revoked` (default 60 s). */
  rebalanceTimeoutMs?: number;
}

const BROKER_ADDRESS = /^[^\s:,]+:\d{1,5}$/;

/**
 * The event bus on Apache Kafka (4.x; any broker speaking the 3.5+ protocol), through
 * @platformatic/kafka. Topics rtsa creates use LogAppendTime, so `BusRecord.timestamp` is when the
 * log accepted the message, as on the embedded log. See docs/decisions (Kafka) for the choices.
 */
export class KafkaBus implements Bus {
  readonly kind = 'kafka';
  readonly #brokers: string[];
  readonly #clientId: string;
  readonly #logger: Logger;
  readonly #replicationFactor: number;
  readonly #timeoutMs: number;
  readonly #sessionTimeoutMs: number;
  readonly #heartbeatIntervalMs: number;
  readonly #rebalanceTimeoutMs: number;
  readonly #sinks = new Set<KafkaSink>();
  readonly #sources = new Set<KafkaSource>();
  #admin: Admin | undefined;

  constructor(options: KafkaBusOptions) {
    const brokers = options.brokers.map((b) => b.trim()).filter((b) => b.length > 0);
    if (brokers.length === 0) {
      throw new ConfigError(
        'KAFKA_BROKERS is empty: set it to host:port,... or unset it to use the embedded log',
      );
    }
    const bad = brokers.find((b) => !BROKER_ADDRESS.test(b));
    if (bad !== undefined) {
      throw new ConfigError(`KAFKA_BROKERS has "${bad}": each entry must be host:port, e.g. 127.0.0.1:9092`);
    }
    this.#brokers = brokers;
    this.#clientId = options.clientId ?? 'rtsa';
    this.#logger = options.logger ?? silentLogger();
    this.#replicationFactor = options.replicationFactor ?? -1;
    this.#timeoutMs = options.sendTimeoutMs ?? 30_000;
    this.#sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3_000;
    this.#rebalanceTimeoutMs = Math.max(options.rebalanceTimeoutMs ?? 60_000, this.#sessionTimeoutMs);
    if (this.#heartbeatIntervalMs >= this.#sessionTimeoutMs) {
      throw new ConfigError(
        `Kafka heartbeat interval (${this.#heartbeatIntervalMs} ms) must be below the session timeout (${this.#sessionTimeoutMs} ms)`,
      );
    }
  }

  async ensureTopic(name: string, partitions: number): Promise<TopicInfo> {
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
    }
    const existing = await this.describeTopic(name);
    if (existing) return existing;
    await this.#withRetry(`create topic ${name}`, async (admin) => {
      try {
        await admin.createTopics({
          topics: [name],
          partitions,
          replicas: this.#replicationFactor,
          configs: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
        });
        this.#logger.info({ topic: name, partitions }, `kafka: created topic ${name}`);
      } catch (error) {
        // Someone else created it meanwhile: fine, we report what exists.
        if (!(error instanceof Error) || findErrorBy(error, 'apiId', 'TOPIC_ALREADY_EXISTS') === null)
          throw error;
      }
    });
    // A new topic's partitions get their leaders a moment later; producers and consumers need them.
    const deadline = Date.now() + this.#timeoutMs;
    for (let attempt = 1; ; attempt++) {
      const info = await this.#describe(name, true).catch((error: unknown) => {
        if (error instanceof BusUnavailableError) throw error;
        return undefined; // e.g. LEADER_NOT_AVAILABLE while the controller assigns leaders
      });
      if (info?.leaders) return { name, partitions: info.partitions };
      if (Date.now() > deadline) {
        throw new BusUnavailableError(
          `Kafka topic ${name} has partitions without a leader after ${this.#timeoutMs} ms`,
        );
      }
      await sleep(Math.min(backoffMs(attempt), 500));
    }
  }

  async describeTopic(name: string): Promise<TopicInfo | undefined> {
    const info = await this.#describe(name, true);
    return info ? { name, partitions: info.partitions } : undefined;
  }

  sink(): Sink {
    const sink: KafkaSink = new KafkaSink({
      brokers: this.#brokers,
      clientId: `${this.#clientId}-producer`,
      logger: this.#logger,
      sendTimeoutMs: this.#timeoutMs,
      onClosed: () => this.#sinks.delete(sink),
    });
    this.#sinks.add(sink);
    return sink;
  }

  source(options: SourceOptions): KafkaSource {
    const source: KafkaSource = new KafkaSource(options, {
      brokers: this.#brokers,
      clientId: `${this.#clientId}-consumer`,
      logger: this.#logger,
      sessionTimeoutMs: this.#sessionTimeoutMs,
      heartbeatIntervalMs: this.#heartbeatIntervalMs,
      rebalanceTimeoutMs: this.#rebalanceTimeoutMs,
      onStopped: () => this.#sources.delete(source),
    });
    this.#sources.add(source);
    return source;
  }

  /** Stops the sources and closes the sinks this bus made, then its admin connection. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#sources].map((s) => s.stop()));
    await Promise.allSettled([...this.#sinks].map((s) => s.close()));
    this.#sources.clear();
    this.#sinks.clear();
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.close().catch(() => {});
  }

  async #describe(
    name: string,
    fresh: boolean,
  ): Promise<{ partitions: number; leaders: boolean } | undefined> {
    return this.#withRetry(`describe topic ${name}`, async (admin) => {
      try {
        // No client-side retries: a missing topic is an answer here, not a reason to wait.
        const metadata = await admin.metadata({ topics: [name], forceUpdate: fresh, retries: 0 });
        const topic = metadata.topics.get(name);
        if (!topic) return undefined;
        return {
          partitions: topic.partitionsCount,
          leaders:
            topic.partitions.length === topic.partitionsCount && topic.partitions.every((p) => p.leader >= 0),
        };
      } catch (error) {
        if (isUnknownTopic(error)) return undefined;
        throw error;
      }
    });
  }

  /** Admin calls: retried while the broker is unreachable, up to the bus timeout. */
  async #withRetry<T>(what: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs;
    let logged = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn(this.#adminClient());
        if (logged) this.#logger.info(`kafka: ${what} succeeded after the broker came back`);
        return result;
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        const delay = backoffMs(attempt);
        if (Date.now() + delay > deadline) {
          throw new BusUnavailableError(
            `Kafka broker ${this.#brokers.join(',')} unreachable for ${this.#timeoutMs / 1000} s (${what}): ` +
              `check that Kafka is running and KAFKA_BROKERS is right (${errorMessage(error)})`,
            { cause: error },
          );
        }
        if (!logged) {
          this.#logger.warn(
            `kafka: broker ${this.#brokers.join(',')} unreachable (${what}), retrying in ${delay} ms`,
          );
          logged = true;
        }
        await sleep(delay);
      }
    }
  }

  #adminClient(): Admin {
    this.#admin ??= new Admin({
      clientId: `${this.#clientId}-admin`,
      bootstrapBrokers: this.#brokers,
      retries: 3,
      retryDelay: (_client, _operation, attempt) => backoffMs(attempt),
      connectTimeout: 5_000,
      timeout: 30_000,
    });
    return this.#admin;
  }
}
