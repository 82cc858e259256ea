/**
 * Every setting rtsa knows, once: its environment variable, its CLI flag, its type, default,
 * area and documentation. The config loader, `rtsa --help`, docs/configuration.md and the
 * compose-file check all read this table; nothing else defines a setting.
 */

type Kind = 'string' | 'int' | 'number' | 'duration' | 'bool' | 'enum' | 'list';

export interface SettingSpec {
  readonly env: string;
  readonly flag: string;
  readonly kind: Kind;
  readonly doc: string;
  /** The group it belongs to; commands take settings by area. */
  readonly area: Area;
  readonly default?: string | number | boolean;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** Other flag names users know it by (e.g. the seed producer's `--events-per-second`). */
  readonly aliases?: readonly string[];
  /** Never printed in logs or `rtsa config`. */
  readonly secret?: boolean;
}

/**
 * Settings come in areas; a command takes whole areas (src/config/commands.ts), so a new setting
 * reaches every command of its area and a new command lists areas, not settings.
 */
export const AREAS = {
  general: 'Everywhere: local state and logging',
  database: 'Postgres',
  bus: 'The event log: Kafka, or the embedded log and its topics',
  listen: 'Network address of anything that listens',
  api: 'The HTTP API and dashboard',
  metrics: 'Prometheus metrics of roles without the API',
  client: 'Commands that talk to a running rtsa',
  token: 'Authentication of POST /events (servers check it, clients send it)',
  edge: 'What the ingest edge accepts',
  pipeline: 'The live-stream processors as a group (read by the API and ops too)',
  processor: 'The live-stream processor',
  embedded: '`rtsa start`: what runs in its one process',
  generator: 'The event generator (live-stream or commerce traffic)',
  lake: 'The lake: where bronze and silver files go, and how often they are committed',
} as const;
export type Area = keyof typeof AREAS;

export const SETTINGS = {
  dataDir: {
    env: 'RTSA_DATA_DIR',
    flag: 'data-dir',
    kind: 'string',
    default: './data',
    doc: 'Folder for all local state: the embedded log and the embedded Postgres data.',
    area: 'general',
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    flag: 'database-url',
    kind: 'string',
    doc: 'Postgres connection URL. Unset: rtsa starts an embedded Postgres in <data-dir>/postgres.',
    area: 'database',
    secret: true,
  },
  host: {
    env: 'RTSA_HOST',
    flag: 'host',
    kind: 'string',
    default: '127.0.0.1',
    doc: 'Address the HTTP API (and the metrics port of process/generate) listens on (0.0.0.0 inside a container).',
    area: 'listen',
  },
  port: {
    env: 'PORT',
    flag: 'port',
    kind: 'int',
    default: 8000,
    min: 0,
    max: 65535,
    doc: 'Port of the HTTP API and dashboard.',
    area: 'api',
  },
  apiCacheTtlMs: {
    env: 'RTSA_API_CACHE_TTL',
    flag: 'api-cache-ttl',
    kind: 'duration',
    default: '250ms',
    doc: 'Identical read requests within this time share one result (0 turns the response cache off).',
    area: 'api',
  },
  metricsPort: {
    env: 'RTSA_METRICS_PORT',
    flag: 'metrics-port',
    kind: 'int',
    min: 0,
    max: 65535,
    doc: 'Roles without the API (process, generate) serve their Prometheus metrics on this port at /metrics (unset: not served).',
    area: 'metrics',
  },
  apiUrl: {
    env: 'RTSA_API_URL',
    flag: 'api-url',
    kind: 'string',
    doc: 'URL of a running rtsa API; `produce` and `generate` post events there instead of writing the log.',
    area: 'client',
  },
  kafkaBrokers: {
    env: 'KAFKA_BROKERS',
    flag: 'kafka-brokers',
    kind: 'list',
    doc: 'Kafka bootstrap servers, host:port,... Unset: the embedded log in <data-dir>/log is used.',
    area: 'bus',
  },
  kafkaSessionTimeoutMs: {
    env: 'RTSA_KAFKA_SESSION_TIMEOUT',
    flag: 'kafka-session-timeout',
    kind: 'duration',
    default: '30s',
    doc: 'Kafka consumer-group session timeout: a processor silent this long loses its partitions (and is fenced).',
    area: 'bus',
  },
  kafkaReplicationFactor: {
    env: 'RTSA_KAFKA_REPLICATION',
    flag: 'kafka-replication',
    kind: 'int',
    default: -1,
    min: -1,
    doc: 'Replication factor of topics rtsa creates on Kafka (-1: the broker default).',
    area: 'bus',
  },
  topic: {
    env: 'RTSA_TOPIC',
    flag: 'topic',
    kind: 'string',
    default: 'stream.events',
    doc: 'Topic of live-stream events (key: stream_id).',
    area: 'bus',
  },
  partitions: {
    env: 'RTSA_PARTITIONS',
    flag: 'partitions',
    kind: 'int',
    min: 1,
    max: 1024,
    doc: 'Partitions of the topic when rtsa creates it (default 1 embedded, 6 on Kafka). Fixed once created.',
    area: 'bus',
  },
  consumerGroup: {
    env: 'RTSA_CONSUMER_GROUP',
    flag: 'consumer-group',
    kind: 'string',
    default: 'rtsa-processor',
    doc: 'Consumer group of the processors; its offsets live in Postgres.',
    area: 'pipeline',
  },
  watermarkDelayMs: {
    env: 'RTSA_WATERMARK_DELAY',
    flag: 'watermark-delay',
    kind: 'duration',
    default: '10m',
    doc: 'Allowed lateness: watermark = max event time seen - this. Older events are late.',
    area: 'pipeline',
  },
  idleTimeoutMs: {
    env: 'RTSA_IDLE_TIMEOUT',
    flag: 'idle-timeout',
    kind: 'duration',
    default: '30s',
    doc: 'A partition with no events for this long stops holding windows open (its watermark follows the others, or the clock when all are idle).',
    area: 'processor',
  },
  flushIntervalMs: {
    env: 'RTSA_FLUSH_INTERVAL',
    flag: 'flush-interval',
    kind: 'duration',
    default: '500ms',
    min: 1,
    doc: 'Commits start as soon as the previous one is durable; while one is in flight, the next is queued after at most this long.',
    area: 'processor',
  },
  maxBatchEvents: {
    env: 'RTSA_MAX_BATCH',
    flag: 'max-batch',
    kind: 'int',
    default: 50000,
    min: 1,
    doc: 'Most events folded into one commit.',
    area: 'processor',
  },
  maxFutureSkewMs: {
    env: 'RTSA_MAX_FUTURE_SKEW',
    flag: 'max-future-skew',
    kind: 'duration',
    default: '5m',
    doc: 'Events stamped more than this after their arrival in the log are invalid (reason future_ts). At most RTSA_WATERMARK_DELAY (a larger value is refused at start; the default shrinks to it).',
    area: 'edge',
  },
  deadLetterRetentionMs: {
    env: 'RTSA_DEAD_LETTER_RETENTION',
    flag: 'dead-letter-retention',
    kind: 'duration',
    default: '7d',
    min: 60_000,
    doc: 'Rows of dead_letter_events older than this are deleted (checked every minute by the processor).',
    area: 'processor',
  },
  deadLetterMaxRows: {
    env: 'RTSA_DEAD_LETTER_MAX_ROWS',
    flag: 'dead-letter-max-rows',
    kind: 'int',
    default: 1_000_000,
    min: 1000,
    doc: 'Most rows kept in dead_letter_events; beyond, the oldest are deleted (each keeps at most 16 KiB of raw bytes).',
    area: 'processor',
  },
  logFsync: {
    env: 'RTSA_LOG_FSYNC',
    flag: 'log-fsync',
    kind: 'enum',
    choices: ['always', 'never'],
    default: 'always',
    doc: 'Embedded log: fsync before acknowledging an append (always), or leave it to the OS (never: survives kill -9, not power loss).',
    area: 'bus',
  },
  logRetentionMs: {
    env: 'RTSA_LOG_RETENTION',
    flag: 'log-retention',
    kind: 'duration',
    default: '7d',
    doc: 'Embedded log: segments older than this are deleted.',
    area: 'bus',
  },
  logSegmentBytes: {
    env: 'RTSA_LOG_SEGMENT_BYTES',
    flag: 'log-segment-bytes',
    kind: 'int',
    default: 64 * 1024 * 1024,
    min: 1024,
    doc: 'Embedded log: size at which a partition rolls to a new segment file.',
    area: 'bus',
  },
  generator: {
    env: 'RTSA_GENERATOR',
    flag: 'generator',
    kind: 'bool',
    default: true,
    doc: '`start` runs the event generator too (--no-generator to turn it off).',
    area: 'embedded',
  },
  rate: {
    env: 'RTSA_GEN_RATE',
    flag: 'rate',
    aliases: ['events-per-second'],
    kind: 'number',
    default: 50,
    min: 0.001,
    doc: 'Generator: events per second (`--events-per-second` too, as the seed producer).',
    area: 'generator',
  },
  streams: {
    env: 'RTSA_GEN_STREAMS',
    flag: 'streams',
    kind: 'int',
    default: 20,
    min: 1,
    doc: 'Generator: number of streams.',
    area: 'generator',
  },
  users: {
    env: 'RTSA_GEN_USERS',
    flag: 'users',
    kind: 'int',
    default: 1000,
    min: 1,
    doc: 'Generator: number of users (commerce: the starting pool; signups grow it up to 10,000).',
    area: 'generator',
  },
  weights: {
    env: 'RTSA_GEN_WEIGHTS',
    flag: 'weights',
    kind: 'string',
    default: 'viewer_join=25,viewer_leave=18,chat_message=50,donation=5,stream_start=0.2,stream_stop=0.1',
    doc: 'Generator: relative weight of each event type, type=weight,...',
    area: 'generator',
  },
  seed: {
    env: 'RTSA_GEN_SEED',
    flag: 'seed',
    kind: 'int',
    doc: 'Generator: seed for a deterministic run (same seed, same events).',
    area: 'generator',
  },
  count: {
    env: 'RTSA_GEN_COUNT',
    flag: 'count',
    aliases: ['total-events'],
    kind: 'int',
    min: 1,
    doc: 'Generator: stop after this many events (`--total-events` too).',
    area: 'generator',
  },
  durationMs: {
    env: 'RTSA_GEN_DURATION',
    flag: 'duration',
    kind: 'duration',
    doc: 'Generator: stop after this long.',
    area: 'generator',
  },
  badRate: {
    env: 'RTSA_GEN_BAD_RATE',
    flag: 'bad-rate',
    kind: 'number',
    default: 0,
    min: 0,
    max: 1,
    doc: 'Generator: fraction of deliberately invalid events (they must land in the dead-letter table).',
    area: 'generator',
  },
  domain: {
    env: 'RTSA_GEN_DOMAIN',
    flag: 'domain',
    kind: 'enum',
    choices: ['live', 'commerce'],
    default: 'live',
    doc: '`rtsa generate`: live-stream events (topic RTSA_TOPIC) or commerce events (topic RTSA_COMMERCE_TOPIC).',
    area: 'generator',
  },
  badDataPercentage: {
    env: 'RTSA_GEN_BAD_DATA_PERCENTAGE',
    flag: 'bad-data-percentage',
    kind: 'number',
    default: 1,
    min: 0,
    max: 100,
    doc: "Commerce generator: percent of events broken by one of the seed producer's five bad-data kinds.",
    area: 'generator',
  },
  historyFrom: {
    env: 'RTSA_GEN_FROM',
    flag: 'from',
    kind: 'string',
    doc: 'Commerce generator: generate history from this day (YYYY-MM-DD, UTC) to --to, in event-time order, instead of live traffic.',
    area: 'generator',
  },
  historyTo: {
    env: 'RTSA_GEN_TO',
    flag: 'to',
    kind: 'string',
    doc: 'Commerce generator: last day of the history (inclusive; default: the --from day).',
    area: 'generator',
  },
  eventsPerDay: {
    env: 'RTSA_GEN_EVENTS_PER_DAY',
    flag: 'events-per-day',
    kind: 'int',
    default: 10000,
    min: 1,
    doc: 'Commerce generator: events per day of history.',
    area: 'generator',
  },
  commerceRate: {
    env: 'RTSA_COMMERCE_RATE',
    flag: 'commerce-rate',
    kind: 'number',
    default: 10,
    min: 0.001,
    doc: '`start` also generates commerce events at this rate (events per second) unless --no-generator.',
    area: 'embedded',
  },
  commerceTopic: {
    env: 'RTSA_COMMERCE_TOPIC',
    flag: 'commerce-topic',
    kind: 'string',
    default: 'events_raw',
    doc: 'Topic of commerce events (key: user_id), read by the lake writers.',
    area: 'bus',
  },
  lakeUrl: {
    env: 'RTSA_LAKE_URL',
    flag: 'lake-url',
    kind: 'string',
    doc: 'Where the lake lives: a folder, or s3://bucket/prefix for an S3-compatible store (unset: <data-dir>/lake).',
    area: 'lake',
  },
  s3Endpoint: {
    env: 'RTSA_S3_ENDPOINT',
    flag: 's3-endpoint',
    kind: 'string',
    doc: 'S3 API endpoint for an s3:// lake, e.g. http://minio:9000 (unset: AWS S3).',
    area: 'lake',
  },
  s3Region: {
    env: 'RTSA_S3_REGION',
    flag: 's3-region',
    kind: 'string',
    default: 'us-east-1',
    doc: 'Region of the S3 bucket.',
    area: 'lake',
  },
  s3AccessKeyId: {
    env: 'RTSA_S3_ACCESS_KEY_ID',
    flag: 's3-access-key-id',
    kind: 'string',
    doc: 'Access key of the S3 bucket (unset: the AWS SDK looks for credentials itself).',
    area: 'lake',
  },
  s3SecretAccessKey: {
    env: 'RTSA_S3_SECRET_ACCESS_KEY',
    flag: 's3-secret-access-key',
    kind: 'string',
    doc: 'Secret of the S3 access key.',
    area: 'lake',
    secret: true,
  },
  lakeLatenessMs: {
    env: 'RTSA_LAKE_LATENESS',
    flag: 'lake-lateness',
    kind: 'duration',
    default: '10m',
    doc: 'Silver: allowed lateness. Watermark = max event time seen - this; older events go to the dead letters as late.',
    area: 'lake',
  },
  sessionGapMs: {
    env: 'RTSA_SESSION_GAP',
    flag: 'session-gap',
    kind: 'duration',
    default: '30m',
    min: 1,
    doc: "Silver: a gap this long or longer between a user's events starts a new session.",
    area: 'lake',
  },
  lakeIdleTimeoutMs: {
    env: 'RTSA_LAKE_IDLE_TIMEOUT',
    flag: 'lake-idle-timeout',
    kind: 'duration',
    default: '30s',
    min: 1,
    doc: 'Silver: a partition without events this long moves its watermark with the wall clock, so its last sessions close.',
    area: 'lake',
  },
  lakeFlushIntervalMs: {
    env: 'RTSA_LAKE_FLUSH_INTERVAL',
    flag: 'lake-flush-interval',
    kind: 'duration',
    default: '10s',
    min: 1,
    doc: 'Most time between lake commits (each commit writes at least one Parquet file per partition and folder it touches).',
    area: 'lake',
  },
  lakeMaxBatch: {
    env: 'RTSA_LAKE_MAX_BATCH',
    flag: 'lake-max-batch',
    kind: 'int',
    default: 200000,
    min: 1,
    doc: 'Most records in one lake commit.',
    area: 'lake',
  },
  ingestToken: {
    env: 'RTSA_INGEST_TOKEN',
    flag: 'ingest-token',
    kind: 'string',
    doc: 'When set, POST /events requires `Authorization: Bearer <token>`.',
    area: 'token',
    secret: true,
  },
  feedMaxViewers: {
    env: 'RTSA_FEED_MAX_VIEWERS',
    flag: 'feed-max-viewers',
    kind: 'int',
    default: 2000,
    min: 1,
    doc: 'Most connected viewers of the live commerce feed (GET /kpi/feed) per API process (503 beyond).',
    area: 'edge',
  },
  feedMaxViewersPerAddress: {
    env: 'RTSA_FEED_MAX_VIEWERS_PER_ADDRESS',
    flag: 'feed-max-viewers-per-address',
    kind: 'int',
    default: 20,
    min: 1,
    doc: 'Most live-feed viewers from one client address (429 beyond); raise it behind a proxy that hides addresses.',
    area: 'edge',
  },
  ingestRateLimit: {
    env: 'RTSA_INGEST_RATE_LIMIT',
    flag: 'ingest-rate-limit',
    kind: 'int',
    default: 200,
    min: 0,
    doc: 'Most POST /events requests per client address per second (429 beyond; 0 = no limit).',
    area: 'edge',
  },
  logLevel: {
    env: 'LOG_LEVEL',
    flag: 'log-level',
    kind: 'enum',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    default: 'info',
    doc: 'Log level.',
    area: 'general',
  },
  logFormat: {
    env: 'LOG_FORMAT',
    flag: 'log-format',
    kind: 'enum',
    choices: ['json', 'pretty'],
    doc: 'Log format: JSON lines, or pretty for a terminal (default: pretty on a TTY, else json).',
    area: 'general',
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
