/**
 * Every setting rtsa knows, once: its environment variable, its CLI flag, its type, default and
 * documentation. The config loader, `rtsa --help`, docs/configuration.md and the compose-file
 * check all read this table; nothing else defines a setting.
 */

export type Role = 'start' | 'generate' | 'produce' | 'process' | 'serve' | 'migrate' | 'smoke' | 'doctor';

type Kind = 'string' | 'int' | 'number' | 'duration' | 'bool' | 'enum' | 'list';

export interface SettingSpec {
  readonly env: string;
  readonly flag: string;
  readonly kind: Kind;
  readonly doc: string;
  readonly roles: readonly Role[];
  readonly default?: string | number | boolean;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** Never printed in logs or `rtsa config`. */
  readonly secret?: boolean;
}

const ALL: readonly Role[] = [
  'start',
  'generate',
  'produce',
  'process',
  'serve',
  'migrate',
  'smoke',
  'doctor',
];
const BUS: readonly Role[] = ['start', 'generate', 'produce', 'process', 'serve', 'smoke', 'doctor'];
const DB: readonly Role[] = ['start', 'process', 'serve', 'migrate', 'smoke', 'doctor'];
const PROCESS: readonly Role[] = ['start', 'process'];
const GENERATE: readonly Role[] = ['start', 'generate'];
const SERVE: readonly Role[] = ['start', 'serve', 'smoke', 'doctor'];

export const SETTINGS = {
  dataDir: {
    env: 'RTSA_DATA_DIR',
    flag: 'data-dir',
    kind: 'string',
    default: './data',
    doc: 'Folder for all local state: the embedded log and the embedded Postgres data.',
    roles: ALL,
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    flag: 'database-url',
    kind: 'string',
    doc: 'Postgres connection URL. Unset: rtsa starts an embedded Postgres in <data-dir>/postgres.',
    roles: DB,
    secret: true,
  },
  host: {
    env: 'RTSA_HOST',
    flag: 'host',
    kind: 'string',
    default: '127.0.0.1',
    doc: 'Address the HTTP API (and the metrics port of process/generate) listens on (0.0.0.0 inside a container).',
    roles: [...SERVE, 'process', 'generate'],
  },
  port: {
    env: 'PORT',
    flag: 'port',
    kind: 'int',
    default: 8000,
    min: 0,
    max: 65535,
    doc: 'Port of the HTTP API and dashboard.',
    roles: SERVE,
  },
  metricsPort: {
    env: 'RTSA_METRICS_PORT',
    flag: 'metrics-port',
    kind: 'int',
    min: 0,
    max: 65535,
    doc: 'Roles without the API (process, generate) serve their Prometheus metrics on this port at /metrics (unset: not served).',
    roles: ['process', 'generate'],
  },
  apiUrl: {
    env: 'RTSA_API_URL',
    flag: 'api-url',
    kind: 'string',
    doc: 'URL of a running rtsa API; `produce` and `generate` post events there instead of writing the log.',
    roles: ['generate', 'produce', 'smoke', 'doctor'],
  },
  kafkaBrokers: {
    env: 'KAFKA_BROKERS',
    flag: 'kafka-brokers',
    kind: 'list',
    doc: 'Kafka bootstrap servers, host:port,... Unset: the embedded log in <data-dir>/log is used.',
    roles: BUS,
  },
  kafkaSessionTimeoutMs: {
    env: 'RTSA_KAFKA_SESSION_TIMEOUT',
    flag: 'kafka-session-timeout',
    kind: 'duration',
    default: '30s',
    doc: 'Kafka consumer-group session timeout: a processor silent this long loses its partitions (and is fenced).',
    roles: BUS,
  },
  kafkaReplicationFactor: {
    env: 'RTSA_KAFKA_REPLICATION',
    flag: 'kafka-replication',
    kind: 'int',
    default: -1,
    min: -1,
    doc: 'Replication factor of topics rtsa creates on Kafka (-1: the broker default).',
    roles: BUS,
  },
  topic: {
    env: 'RTSA_TOPIC',
    flag: 'topic',
    kind: 'string',
    default: 'stream.events',
    doc: 'Topic of live-stream events (key: stream_id).',
    roles: BUS,
  },
  partitions: {
    env: 'RTSA_PARTITIONS',
    flag: 'partitions',
    kind: 'int',
    min: 1,
    max: 1024,
    doc: 'Partitions of the topic when rtsa creates it (default 1 embedded, 6 on Kafka). Fixed once created.',
    roles: BUS,
  },
  consumerGroup: {
    env: 'RTSA_CONSUMER_GROUP',
    flag: 'consumer-group',
    kind: 'string',
    default: 'rtsa-processor',
    doc: 'Consumer group of the processors; its offsets live in Postgres.',
    roles: [...PROCESS, 'serve', 'smoke', 'doctor'],
  },
  watermarkDelayMs: {
    env: 'RTSA_WATERMARK_DELAY',
    flag: 'watermark-delay',
    kind: 'duration',
    default: '10m',
    doc: 'Allowed lateness: watermark = max event time seen - this. Older events are late.',
    roles: [...PROCESS, 'serve', 'doctor'],
  },
  idleTimeoutMs: {
    env: 'RTSA_IDLE_TIMEOUT',
    flag: 'idle-timeout',
    kind: 'duration',
    default: '30s',
    doc: 'A partition with no events for this long stops holding windows open (its watermark follows the others, or the clock when all are idle).',
    roles: PROCESS,
  },
  flushIntervalMs: {
    env: 'RTSA_FLUSH_INTERVAL',
    flag: 'flush-interval',
    kind: 'duration',
    default: '500ms',
    min: 1,
    doc: 'Most time between commits: provisional window values are visible at least this often.',
    roles: PROCESS,
  },
  maxBatchEvents: {
    env: 'RTSA_MAX_BATCH',
    flag: 'max-batch',
    kind: 'int',
    default: 50000,
    min: 1,
    doc: 'Most events folded into one commit.',
    roles: PROCESS,
  },
  maxFutureSkewMs: {
    env: 'RTSA_MAX_FUTURE_SKEW',
    flag: 'max-future-skew',
    kind: 'duration',
    default: '5m',
    doc: 'Events stamped more than this after their arrival in the log are invalid (reason future_ts). At most RTSA_WATERMARK_DELAY (a larger value is refused at start; the default shrinks to it).',
    roles: ['start', 'process', 'serve'],
  },
  deadLetterRetentionMs: {
    env: 'RTSA_DEAD_LETTER_RETENTION',
    flag: 'dead-letter-retention',
    kind: 'duration',
    default: '7d',
    min: 60_000,
    doc: 'Rows of dead_letter_events older than this are deleted (checked every minute by the processor).',
    roles: PROCESS,
  },
  deadLetterMaxRows: {
    env: 'RTSA_DEAD_LETTER_MAX_ROWS',
    flag: 'dead-letter-max-rows',
    kind: 'int',
    default: 1_000_000,
    min: 1000,
    doc: 'Most rows kept in dead_letter_events; beyond, the oldest are deleted (each keeps at most 16 KiB of raw bytes).',
    roles: PROCESS,
  },
  logFsync: {
    env: 'RTSA_LOG_FSYNC',
    flag: 'log-fsync',
    kind: 'enum',
    choices: ['always', 'never'],
    default: 'always',
    doc: 'Embedded log: fsync before acknowledging an append (always), or leave it to the OS (never: survives kill -9, not power loss).',
    roles: BUS,
  },
  logRetentionMs: {
    env: 'RTSA_LOG_RETENTION',
    flag: 'log-retention',
    kind: 'duration',
    default: '7d',
    doc: 'Embedded log: segments older than this are deleted.',
    roles: BUS,
  },
  logSegmentBytes: {
    env: 'RTSA_LOG_SEGMENT_BYTES',
    flag: 'log-segment-bytes',
    kind: 'int',
    default: 64 * 1024 * 1024,
    min: 1024,
    doc: 'Embedded log: size at which a partition rolls to a new segment file.',
    roles: BUS,
  },
  generator: {
    env: 'RTSA_GENERATOR',
    flag: 'generator',
    kind: 'bool',
    default: true,
    doc: '`start` runs the event generator too (--no-generator to turn it off).',
    roles: ['start'],
  },
  rate: {
    env: 'RTSA_GEN_RATE',
    flag: 'rate',
    kind: 'number',
    default: 50,
    min: 0.001,
    doc: 'Generator: events per second.',
    roles: GENERATE,
  },
  streams: {
    env: 'RTSA_GEN_STREAMS',
    flag: 'streams',
    kind: 'int',
    default: 20,
    min: 1,
    doc: 'Generator: number of streams.',
    roles: GENERATE,
  },
  users: {
    env: 'RTSA_GEN_USERS',
    flag: 'users',
    kind: 'int',
    default: 1000,
    min: 1,
    doc: 'Generator: number of users.',
    roles: GENERATE,
  },
  weights: {
    env: 'RTSA_GEN_WEIGHTS',
    flag: 'weights',
    kind: 'string',
    default: 'viewer_join=25,viewer_leave=18,chat_message=50,donation=5,stream_start=0.2,stream_stop=0.1',
    doc: 'Generator: relative weight of each event type, type=weight,...',
    roles: GENERATE,
  },
  seed: {
    env: 'RTSA_GEN_SEED',
    flag: 'seed',
    kind: 'int',
    doc: 'Generator: seed for a deterministic run (same seed, same events).',
    roles: GENERATE,
  },
  count: {
    env: 'RTSA_GEN_COUNT',
    flag: 'count',
    kind: 'int',
    min: 1,
    doc: 'Generator: stop after this many events.',
    roles: GENERATE,
  },
  durationMs: {
    env: 'RTSA_GEN_DURATION',
    flag: 'duration',
    kind: 'duration',
    doc: 'Generator: stop after this long.',
    roles: GENERATE,
  },
  badRate: {
    env: 'RTSA_GEN_BAD_RATE',
    flag: 'bad-rate',
    kind: 'number',
    default: 0,
    min: 0,
    max: 1,
    doc: 'Generator: fraction of deliberately invalid events (they must land in the dead-letter table).',
    roles: GENERATE,
  },
  ingestToken: {
    env: 'RTSA_INGEST_TOKEN',
    flag: 'ingest-token',
    kind: 'string',
    doc: 'When set, POST /events requires `Authorization: Bearer <token>`.',
    roles: ['start', 'serve', 'generate', 'produce', 'smoke'],
    secret: true,
  },
  ingestRateLimit: {
    env: 'RTSA_INGEST_RATE_LIMIT',
    flag: 'ingest-rate-limit',
    kind: 'int',
    default: 200,
    min: 0,
    doc: 'Most POST /events requests per client address per second (429 beyond; 0 = no limit).',
    roles: ['start', 'serve'],
  },
  logLevel: {
    env: 'LOG_LEVEL',
    flag: 'log-level',
    kind: 'enum',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    default: 'info',
    doc: 'Log level.',
    roles: ALL,
  },
  logFormat: {
    env: 'LOG_FORMAT',
    flag: 'log-format',
    kind: 'enum',
    choices: ['json', 'pretty'],
    doc: 'Log format: JSON lines, or pretty for a terminal (default: pretty on a TTY, else json).',
    roles: ALL,
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;

type ValueOfKind<S> = S extends { kind: 'int' | 'number' | 'duration' }
  ? number
  : S extends { kind: 'bool' }
    ? boolean
    : S extends { kind: 'list' }
      ? string[]
      : S extends { kind: 'enum'; choices: readonly (infer C)[] }
        ? C
        : string;

/** The validated configuration; a setting without a default may be undefined. */
export type Config = {
  readonly [K in SettingKey]: (typeof SETTINGS)[K] extends { default: unknown }
    ? ValueOfKind<(typeof SETTINGS)[K]>
    : ValueOfKind<(typeof SETTINGS)[K]> | undefined;
};
