import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { configurationMarkdown } from '../../src/config/docs.ts';
import { ConfigError } from '../../src/errors.ts';
import { loadConfig, redactedConfig } from '../../src/config/index.ts';

test('defaults apply when nothing is set', () => {
  const { config } = loadConfig('start', [], {});
  assert.equal(config.port, 8000);
  assert.equal(config.watermarkDelayMs, 600_000);
  assert.equal(config.flushIntervalMs, 500);
  assert.equal(config.generator, true);
  assert.equal(config.databaseUrl, undefined);
  assert.equal(config.kafkaBrokers, undefined);
});

test('flags win over environment variables', () => {
  const { config } = loadConfig('start', ['--port', '9001', '--no-generator', '--watermark-delay', '30s'], {
    PORT: '9000',
    RTSA_GENERATOR: 'true',
  });
  assert.equal(config.port, 9001);
  assert.equal(config.generator, false);
  assert.equal(config.watermarkDelayMs, 30_000);
});

test('the settings given by a flag or the environment are told apart from defaults', () => {
  const { given } = loadConfig('generate', ['--rate', '5'], { RTSA_GEN_USERS: '10' });
  assert.deepEqual([...given].sort(), ['rate', 'users']);
  assert.deepEqual([...loadConfig('generate', [], {}).given], []);
});

test('a bad value names the setting and what is expected', () => {
  assert.throws(
    () => loadConfig('start', [], { PORT: 'eighty' }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /PORT is "eighty": expected a whole number.*--port/);
      return true;
    },
  );
  assert.throws(
    () => loadConfig('process', ['--watermark-delay', 'soon'], {}),
    /--watermark-delay is "soon": expected a duration/,
  );
  assert.throws(() => loadConfig('start', ['--port', '70000'], {}), /at most 65535/);
  // A duration's bounds in its own words, not in milliseconds.
  assert.throws(
    () => loadConfig('dag', ['run', '--dag-run-timeout', '10s'], {}),
    /--dag-run-timeout is "10s": expected at least 1m\./,
  );
  assert.throws(() => loadConfig('start', [], { LOG_FORMAT: 'xml' }), /one of json, pretty/);
  assert.throws(() => loadConfig('start', [], { KAFKA_BROKERS: ' , ' }), /KAFKA_BROKERS.*at least one item/);
});

test('a bad cron schedule fails at start, naming the setting', () => {
  assert.throws(
    () => loadConfig('start', ['--dag-schedule', '99 * * * *'], {}),
    /RTSA_DAG_SCHEDULE \(--dag-schedule\) is "99 \* \* \* \*": not a cron expression \(Constraint error/,
  );
  assert.throws(() => loadConfig('start', [], { RTSA_DAG_SCHEDULE: 'daily' }), /RTSA_DAG_SCHEDULE/);
  assert.equal(
    loadConfig('start', ['--dag-schedule', '30 3 * * 1-5'], {}).config.dagSchedule,
    '30 3 * * 1-5',
  );
});

test('unknown flags and flags of other roles are refused', () => {
  assert.throws(() => loadConfig('start', ['--prot', '1'], {}), /Unknown option '--prot'.*rtsa start --help/);
  assert.throws(() => loadConfig('serve', ['--rate', '5'], {}), /Unknown option '--rate'/);
  assert.throws(() => loadConfig('start', ['stray'], {}), /positional/);
});

test('secrets are masked', () => {
  const { config } = loadConfig('start', [], {
    DATABASE_URL: 'postgres://u:hunter2@db:5432/x',
    RTSA_INGEST_TOKEN: 's3cret',
  });
  const shown = JSON.stringify(redactedConfig(config));
  assert.doesNotMatch(shown, /hunter2|s3cret/);
  assert.match(shown, /postgres:\/\/u:\*\*\*@db:5432\/x/);
});

test('docs/configuration.md is generated from the schema and up to date', async () => {
  const onDisk = await readFile('docs/configuration.md', 'utf8');
  assert.equal(onDisk, configurationMarkdown(), 'run `npm run docs`');
});

test('Regression: a future skew larger than the watermark delay is refused at start, naming both settings', () => {
  assert.throws(
    () => loadConfig('start', ['--max-future-skew', '15m'], {}),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /RTSA_MAX_FUTURE_SKEW .*15m.*RTSA_WATERMARK_DELAY .*10m/);
      return true;
    },
  );
  assert.throws(
    () => loadConfig('process', ['--watermark-delay', '1m'], { RTSA_MAX_FUTURE_SKEW: '2m' }),
    /RTSA_MAX_FUTURE_SKEW.*RTSA_WATERMARK_DELAY/,
  );
  const defaults = loadConfig('start', [], {}).config;
  assert.ok(defaults.maxFutureSkewMs <= defaults.watermarkDelayMs, 'the defaults agree');
  // A defaulted skew follows a shorter delay instead of failing.
  assert.equal(loadConfig('process', ['--watermark-delay', '2m'], {}).config.maxFutureSkewMs, 120_000);
  assert.equal(loadConfig('process', ['--max-future-skew', '10m'], {}).config.maxFutureSkewMs, 600_000);
});

test('Regression: an empty or whitespace ingest token is refused at start (it left POST /events open)', () => {
  for (const env of [{ RTSA_INGEST_TOKEN: '' }, { RTSA_INGEST_TOKEN: '   ' }]) {
    assert.throws(() => loadConfig('start', [], env), /RTSA_INGEST_TOKEN .*is set but empty/);
  }
  assert.throws(() => loadConfig('serve', ['--ingest-token', ' '], {}), /is set but empty/);
  assert.throws(() => loadConfig('serve', [], { RTSA_INGEST_TOKEN: 'two words' }), /spaces/);
  assert.equal(loadConfig('serve', [], { RTSA_INGEST_TOKEN: 's3cret' }).config.ingestToken, 's3cret');
  assert.equal(loadConfig('serve', [], {}).config.ingestToken, undefined);
});

test('a command with subcommands takes one first, then its flags; the warehouse dates follow them', async () => {
  const { commandFlagsOf } = await import('../../src/config/index.ts');
  const { datesToLoad } = await import('../../src/runtime/warehouse.ts');
  const flags = commandFlagsOf('warehouse');
  const loaded = loadConfig('warehouse', ['load', '--date', '2025-12-01'], {}, flags);
  assert.equal(loaded.subcommand, 'load');
  assert.deepEqual(loaded.flags, { date: '2025-12-01' });
  assert.throws(() => loadConfig('warehouse', [], {}, flags), /needs a subcommand: one of load/);
  assert.throws(() => loadConfig('warehouse', ['--date', '2025-12-01'], {}, flags), /needs a subcommand/);
  assert.throws(() => loadConfig('warehouse', ['unload'], {}, flags), /no subcommand "unload"/);
  assert.equal(loadConfig('migrate', [], {}).subcommand, undefined);

  const now = Date.parse('2025-12-02T00:30:00Z');
  assert.deepEqual(datesToLoad({}, now), ['2025-12-01'], 'default: yesterday, UTC');
  assert.deepEqual(datesToLoad({ date: '2024-02-29' }, now), ['2024-02-29']);
  assert.deepEqual(datesToLoad({ from: '2024-02-28', to: '2024-03-01' }, now), [
    '2024-02-28',
    '2024-02-29',
    '2024-03-01',
  ]);
  assert.throws(() => datesToLoad({ date: '2025-02-29' }, now), /expected a date YYYY-MM-DD/);
  // Regression: a month 13 made an invalid Date whose toISOString threw a bare RangeError.
  assert.throws(
    () => datesToLoad({ date: '2025-13-01' }, now),
    /--date is "2025-13-01": expected a date YYYY-MM-DD/,
  );
  assert.throws(() => datesToLoad({ from: '2025-01-02' }, now), /go together/);
  assert.throws(() => datesToLoad({ from: '2025-01-02', to: '2025-01-01' }, now), /after --to/);
  assert.throws(() => datesToLoad({ date: '2025-01-01', to: '2025-01-02' }, now), /either --date or --from/);
});

test('an empty data folder is refused (the log and Postgres would land in the current folder)', () => {
  assert.throws(() => loadConfig('start', ['--data-dir', ''], {}), /RTSA_DATA_DIR \(--data-dir\) is empty/);
});

test('the lake reads RTSA_MAX_FUTURE_SKEW as the edge and the processors do: one log, one silver', () => {
  assert.equal(loadConfig('lake', [], {}).config.maxFutureSkewMs, 300_000);
  assert.equal(loadConfig('lake', ['--max-future-skew', '2m'], {}).config.maxFutureSkewMs, 120_000);
  assert.equal(loadConfig('lake', [], { RTSA_MAX_FUTURE_SKEW: '1m' }).config.maxFutureSkewMs, 60_000);
  for (const role of ['start', 'process', 'serve'] as const)
    assert.equal(loadConfig(role, [], {}).config.maxFutureSkewMs, 300_000, role);
});
