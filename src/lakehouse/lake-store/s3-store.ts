/**
 * The lake in an S3-compatible bucket (MinIO in compose; s3proxy in the tests), under an optional
 * prefix, with path-style addressing. A move is a server-side CopyObject (readers see the object
 * whole or not at all) followed by a DeleteObject of the staged copy.
 */
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { ConfigError, StoreUnavailableError } from '../../errors.ts';
import { checkKey, type LakeStore } from './lake-store.ts';

export interface S3LakeOptions {
  bucket: string;
  /** Folder inside the bucket ('' for its root). */
  prefix: string;
  endpoint?: string | undefined;
  region?: string | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
}

export class S3LakeStore implements LakeStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly endpoint: string;

  constructor(options: S3LakeOptions) {
    this.bucket = options.bucket;
    this.endpoint = options.endpoint ?? `AWS S3 (${options.region ?? 'us-east-1'})`;
    this.prefix = options.prefix === '' ? '' : `${options.prefix.replace(/\/+$/, '')}/`;
    this.location = `s3://${this.bucket}/${this.prefix}`;
    this.client = new S3Client({
      region: options.region ?? 'us-east-1',
      forcePathStyle: true,
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      ...(options.accessKeyId !== undefined && options.secretAccessKey !== undefined
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
    });
  }

  private object(key: string): string {
    return this.prefix + checkKey(key);
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.object(key), Body: bytes }));
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.object(key) }),
      );
      return Buffer.from(
        await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.object(key) }));
      return true;
    } catch (error) {
      if (
        error instanceof NotFound ||
        (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      )
        return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          ...(token !== undefined ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of page.Contents ?? []) if (o.Key !== undefined) out.push(o.Key.slice(this.prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out;
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.object(from);
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.object(to),
          // CopySource is "bucket/key", URL-encoded per segment.
          CopySource: `${this.bucket}/${source.split('/').map(encodeURIComponent).join('/')}`,
        }),
      );
    } catch (error) {
      if (isMissing(error) && (await this.exists(to))) return;
      throw error;
    }
    await this.delete([from]);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: chunk.map((k) => ({ Key: this.object(k) })), Quiet: true },
        }),
      );
    }
  }

  /**
   * The bucket exists and these credentials may use it: a missing bucket is created (as a missing
   * lake folder is); what cannot be fixed here is an error naming the setting and the fix.
   */
  async prepare(): Promise<void> {
    const where = `bucket "${this.bucket}" on ${this.endpoint}`;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (error) {
      const status = statusOf(error);
      if (status === 403 || status === 401) {
        throw new ConfigError(
          `the S3 server refused access to ${where} (HTTP ${status} ${nameOf(error)}): check RTSA_S3_ACCESS_KEY_ID ` +
            'and RTSA_S3_SECRET_ACCESS_KEY (and that this key may use the bucket)',
          { cause: error },
        );
      }
      if (status !== 404) {
        throw new StoreUnavailableError(
          `cannot reach ${where} (${nameOf(error)}: ${(error as Error).message}): check RTSA_S3_ENDPOINT, and that ` +
            'the S3 server is running',
          { cause: error },
        );
      }
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const name = nameOf(error);
      if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return; // made meanwhile
      throw new ConfigError(
        `RTSA_LAKE_URL names ${where}, which does not exist, and creating it failed (${name}: ` +
          `${(error as Error).message}): create it (aws s3 mb s3://${this.bucket}, or mc mb for MinIO), or set ` +
          'RTSA_LAKE_URL to an existing bucket',
        { cause: error },
      );
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function nameOf(error: unknown): string {
  return (error as { name?: string; code?: string }).name ?? (error as { code?: string }).code ?? 'error';
}

function isMissing(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}
