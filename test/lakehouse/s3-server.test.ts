import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { createCommerceHistory } from '../../src/generator/commerce/index.ts';
import { toBronzeBatch } from '../../src/lakehouse/bronze/bronze-batch.ts';
import { BRONZE_EVENTS_PATH, bronzeFileName } from '../../src/lakehouse/bronze/bronze-writer.ts';
import { encodeBronzeHyparquet } from '../../src/lakehouse/parquet/bronze-parquet.ts';
import { S3LakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { openDuckDB, sqlString } from '../../src/lakehouse/parquet/duckdb.ts';
import { type S3Server, s3Unavailable, startS3Server } from './s3-server.ts';

const skip = s3Unavailable();
let s3: S3Server;

before(async () => {
  if (!skip) s3 = await startS3Server();
});
after(async () => {
  await s3?.stop();
});

test('objects round-trip, and a delimiter listing finds the date= partitions', { skip }, async () => {
  const keys = [
    'bronze/events/date=2025-12-01/event_type=purchase/part-0.parquet',
    'bronze/events/date=2025-12-01/event_type=page_view/part-0.parquet',
    'bronze/events/date=2025-12-02/event_type=purchase/part-0.parquet',
    'bronze/events/date=__HIVE_DEFAULT_PARTITION__/event_type=__HIVE_DEFAULT_PARTITION__/part-0.parquet',
  ];
  for (const [i, key] of keys.entries()) {
    await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: Buffer.from(`body ${i}`) }),
    );
  }
  const got = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: keys[2] }));
  assert.equal(await got.Body!.transformToString(), 'body 2');

  const days = await s3.client.send(
    new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'bronze/events/', Delimiter: '/' }),
  );
  assert.deepEqual((days.CommonPrefixes ?? []).map((p) => p.Prefix).sort(), [
    'bronze/events/date=2025-12-01/',
    'bronze/events/date=2025-12-02/',
    'bronze/events/date=__HIVE_DEFAULT_PARTITION__/',
  ]);
  const types = await s3.client.send(
    new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'bronze/events/date=2025-12-01/', Delimiter: '/' }),
  );
  assert.deepEqual((types.CommonPrefixes ?? []).map((p) => p.Prefix).sort(), [
    'bronze/events/date=2025-12-01/event_type=page_view/',
    'bronze/events/date=2025-12-01/event_type=purchase/',
  ]);
  const all = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'bronze/' }));
  assert.equal(all.KeyCount, keys.length);
});

test('bronze files go to S3 under deterministic keys and read back as a Hive-partitioned table', {
  skip,
}, async () => {
  const messages = createCommerceHistory({
    seed: 13,
    users: 200,
    from: '2025-12-01',
    to: '2025-12-02',
    eventsPerDay: 1_000,
    badDataPercentage: 10,
  }).take(2_000);
  const batch = toBronzeBatch(
    'events_raw',
    messages.map((m, offset) => ({
      partition: 0,
      offset,
      key: m.key,
      value: m.value,
      timestamp: Date.now(),
    })),
    Date.now() * 1_000,
  );
  const prefix = `lake/${BRONZE_EVENTS_PATH}/`;
  const name = bronzeFileName('events_raw', 0, 0, 1_999);
  const files = encodeBronzeHyparquet(batch).map((f) => ({ ...f, relative: `${f.folder}/${name}.parquet` }));
  for (const file of files) {
    await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${file.relative}`, Body: file.bytes }),
    );
  }
  const dates = await s3.client.send(
    new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, Delimiter: '/' }),
  );
  const folders = (dates.CommonPrefixes ?? []).map((p) => p.Prefix!.slice(prefix.length)).sort();
  const expected = [...new Set(files.map((f) => `${f.relative.split('/')[0]}/`))].sort();
  assert.deepEqual(folders, expected);
  assert.ok(expected.includes('date=2025-12-01/') && expected.includes('date=__HIVE_DEFAULT_PARTITION__/'));

  // DuckDB's S3 reader (httpfs) is an extension it cannot download here: read a local copy.
  const local = await mkdtemp(path.join(tmpdir(), 'rtsa-bronze-s3-'));
  try {
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
    assert.equal(listed.KeyCount, files.length);
    for (const object of listed.Contents ?? []) {
      const body = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: object.Key! }));
      const target = path.join(local, object.Key!.slice(prefix.length));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, await body.Body!.transformToByteArray());
    }
    const { instance, connection } = await openDuckDB();
    try {
      const rows = (
        await connection.runAndReadAll(
          `SELECT count(*) AS n, count(invalid_reason) AS invalid, count(DISTINCT "offset") AS offsets
           FROM read_parquet(${sqlString(`${local}/**/*.parquet`)}, hive_partitioning = true)`,
        )
      ).getRowObjectsJS();
      assert.deepEqual(rows[0], {
        n: 2_000n,
        invalid: BigInt(messages.filter((m) => !m.valid).length),
        offsets: 2_000n,
      });
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    await rm(local, { recursive: true, force: true });
  }
});

test('a lake store prepares its bucket: a missing one is created; bad keys or endpoint name the setting', {
  skip,
}, async () => {
  const bucket = `rtsa-new-${Date.now().toString(36)}`;
  const fresh = new S3LakeStore({ bucket, prefix: 'lake', ...credentialsOf(s3) });
  try {
    await fresh.prepare();
    await fresh.put('a/b.txt', Buffer.from('x'));
    assert.equal((await fresh.get('a/b.txt'))?.toString(), 'x');
    await fresh.prepare(); // there now: nothing to do
  } finally {
    await fresh.close();
  }
  const wrongKey = new S3LakeStore({
    bucket: s3.bucket,
    prefix: '',
    ...credentialsOf(s3),
    secretAccessKey: 'not-the-secret',
  });
  await assert.rejects(wrongKey.prepare(), (error: Error) => {
    assert.equal(error.name, 'ConfigError');
    assert.match(
      error.message,
      /refused access to bucket .* check RTSA_S3_ACCESS_KEY_ID and RTSA_S3_SECRET_ACCESS_KEY/,
    );
    return true;
  });
  await wrongKey.close();
  const nowhere = new S3LakeStore({
    bucket: s3.bucket,
    prefix: '',
    ...credentialsOf(s3),
    endpoint: 'http://127.0.0.1:9',
  });
  await assert.rejects(
    nowhere.prepare(),
    /cannot reach bucket .*http:\/\/127\.0\.0\.1:9.*check RTSA_S3_ENDPOINT/,
  );
  await nowhere.close();
});

function credentialsOf(server: S3Server) {
  return {
    endpoint: server.endpoint,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
  };
}
