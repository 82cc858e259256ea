import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
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
