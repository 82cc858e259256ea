/**
 * The lake's Parquet encoding (src/lakehouse/parquet/encode.ts): a column of mostly distinct
 * strings handed to hyparquet-writer as UTF-8 views of one buffer gives the same file as the same
 * strings handed over one by one, and an independent reader (DuckDB) reads back every value —
 * multi-byte characters, emoji, empty strings and nulls among them — across several pages, each
 * compressed with ZSTD.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { type Column, encodeParquet, utf8Views } from '../../src/lakehouse/parquet/encode.ts';
import { openDuckDB, sqlString } from '../../src/lakehouse/parquet/duckdb.ts';

const SAMPLES = ['plain', '', 'Zürich – café', '東京', '😀 emoji', 'tab\tand "quotes"', 'x'.repeat(3000)];

/** 20,000 values (several data pages), mostly distinct, some null. */
function values(): (string | null)[] {
  return Array.from({ length: 20_000 }, (_, i) =>
    i % 97 === 0 ? null : `${SAMPLES[i % SAMPLES.length]}-${i}`,
  );
}

test('utf8Views: each value its UTF-8 bytes, views of one buffer; nulls stay null', () => {
  const input = ['a', null, 'é', '', '😀', null];
  const views = utf8Views(input);
  assert.deepEqual(
    views.map((v) => (v === null ? null : Buffer.from(v).toString('utf8'))),
    input,
  );
  const buffers = new Set(views.filter((v) => v !== null).map((v) => (v as Uint8Array).buffer));
  assert.equal(buffers.size, 1, 'one backing buffer');
  assert.deepEqual(utf8Views([]), []);
});

test('a distinct string column: the same file as strings one by one, read back whole by DuckDB', async () => {
  const strings = values();
  const columns = (distinct: boolean): Column[] => [
    { name: 'id', kind: 'int64', values: strings.map((_, i) => i) },
    // Statistics named: a distinct column has none by default (the next test).
    { name: 'text', kind: 'string', values: strings, distinct, statistics: true },
    // Few distinct values: a dictionary either way.
    {
      name: 'kind',
      kind: 'string',
      values: strings.map((_, i) => SAMPLES[i % 3] ?? null),
      distinct,
      statistics: true,
    },
  ];
  const asViews = encodeParquet(columns(true));
  const asStrings = encodeParquet(columns(false));
  assert.ok(Buffer.from(asViews).equals(Buffer.from(asStrings)), 'byte-identical files');

  const file = path.join(tmpdir(), `rtsa-encode-${process.pid}.parquet`);
  await writeFile(file, asViews);
  const duck = await openDuckDB();
  try {
    const rows = (
      await duck.connection.runAndReadAll(
        `SELECT id, text, kind FROM read_parquet(${sqlString(file)}) ORDER BY id`,
      )
    ).getRowObjects() as { id: bigint; text: string | null; kind: string | null }[];
    assert.equal(rows.length, strings.length);
    for (const [i, row] of rows.entries()) {
      assert.equal(Number(row.id), i);
      assert.equal(row.text, strings[i], `text of row ${i}`);
      assert.equal(row.kind, SAMPLES[i % 3], `kind of row ${i}`);
    }
    // Every column chunk ZSTD-compressed (Node's zlib; docs/decisions.md), as DuckDB reads the footer.
    const codecs = (
      await duck.connection.runAndReadAll(
        `SELECT DISTINCT compression FROM parquet_metadata(${sqlString(file)})`,
      )
    ).getRowObjects() as { compression: string }[];
    assert.deepEqual(
      codecs.map((c) => c.compression),
      ['ZSTD'],
    );
  } finally {
    duck.connection.closeSync();
    await rm(file, { force: true });
  }
});

test('statistics: none for a distinct column unless asked for, min/max for the others', async () => {
  const strings = values();
  const bytes = encodeParquet([
    { name: 'id', kind: 'int64', values: strings.map((_, i) => i) },
    { name: 'text', kind: 'string', values: strings, distinct: true },
    {
      name: 'user',
      kind: 'string',
      values: strings.map((_, i) => `u${i % 50}`),
      distinct: true,
      statistics: true,
    },
    { name: 'kind', kind: 'string', values: strings.map((_, i) => SAMPLES[i % 3] ?? null) },
  ]);
  const file = path.join(tmpdir(), `rtsa-encode-stats-${process.pid}.parquet`);
  await writeFile(file, bytes);
  const duck = await openDuckDB();
  try {
    const stats = (
      await duck.connection.runAndReadAll(
        `SELECT path_in_schema AS name, stats_min_value AS min, stats_max_value AS max FROM parquet_metadata(${sqlString(file)})`,
      )
    ).getRowObjects() as { name: string; min: string | null; max: string | null }[];
    const of = (name: string) => stats.find((s) => s.name === name);
    assert.deepEqual(of('text'), { name: 'text', min: null, max: null });
    assert.deepEqual(of('user'), { name: 'user', min: 'u0', max: 'u9' });
    assert.deepEqual(of('kind'), { name: 'kind', min: '', max: 'plain' });
    assert.deepEqual(of('id'), { name: 'id', min: '0', max: String(strings.length - 1) });
  } finally {
    duck.connection.closeSync();
    await rm(file, { force: true });
  }
});

test('a unique column is written PLAIN without a dictionary trial, and reads back whole', async () => {
  const strings = values();
  const repeated = strings.map((_, i) => `same-${i % 4}`);
  const bytes = encodeParquet([
    { name: 'text', kind: 'string', values: strings, unique: true },
    // Values that would take a dictionary: `unique` is an order, not a hint.
    { name: 'forced', kind: 'string', values: repeated, unique: true },
    { name: 'sampled', kind: 'string', values: repeated, distinct: true },
  ]);
  const file = path.join(tmpdir(), `rtsa-encode-unique-${process.pid}.parquet`);
  await writeFile(file, bytes);
  const duck = await openDuckDB();
  try {
    const meta = (
      await duck.connection.runAndReadAll(
        `SELECT path_in_schema AS name, encodings, stats_min_value AS min FROM parquet_metadata(${sqlString(file)})`,
      )
    ).getRowObjects() as { name: string; encodings: string; min: string | null }[];
    const of = (name: string) => meta.find((m) => m.name === name)!;
    assert.equal(of('text').encodings, 'PLAIN');
    assert.equal(of('forced').encodings, 'PLAIN');
    assert.match(of('sampled').encodings, /DICTIONARY/);
    assert.equal(of('text').min, null, 'no statistics by default');
    const rows = (
      await duck.connection.runAndReadAll(`SELECT text, forced FROM read_parquet(${sqlString(file)})`)
    ).getRowObjects() as { text: string | null; forced: string }[];
    assert.deepEqual(
      rows.map((r) => r.text),
      strings,
    );
    assert.deepEqual(
      rows.map((r) => r.forced),
      repeated,
    );
  } finally {
    duck.connection.closeSync();
    await rm(file, { force: true });
  }
});
