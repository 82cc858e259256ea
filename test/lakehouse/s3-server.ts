/**
 * A real S3-compatible server (s3proxy, via scripts/s3-local.ts) for one test suite:
 * `const s3 = await startS3Server(t)` in a `before`, `await s3.stop()` in `after`. It runs on a
 * free loopback port with its own data folder, and `bucket` is already created.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

const run = promisify(execFile);

export interface S3Server {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  /** A client for the server (path-style addressing, as s3proxy and MinIO want). */
  client: S3Client;
  stop(): Promise<void>;
}

export { s3Unavailable } from '../helpers/system-binaries.ts';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startS3Server(): Promise<S3Server> {
  const port = await freePort();
  const script = new URL('../../scripts/s3-local.ts', import.meta.url).pathname;
  const { stdout } = await run(process.execPath, [script, 'start', '--port', String(port)], {
    timeout: 180_000,
  });
  const env = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => line.split('=', 2) as [string, string]),
  );
  const endpoint = env.RTSA_S3_ENDPOINT!;
  const accessKeyId = env.RTSA_S3_ACCESS_KEY_ID!;
  const secretAccessKey = env.RTSA_S3_SECRET_ACCESS_KEY!;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
  const bucket = `rtsa-test-${randomBytes(4).toString('hex')}`;
  const stop = async () => {
    client.destroy();
    await run(process.execPath, [script, 'stop', '--port', String(port)], { timeout: 30_000 });
  };
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, accessKeyId, secretAccessKey, bucket, client, stop };
}
