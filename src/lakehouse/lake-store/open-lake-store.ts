import path from 'node:path';
import { ConfigError } from '../../errors.ts';
import type { LakeStore } from './lake-store.ts';
import { LocalLakeStore } from './local-store.ts';
import { S3LakeStore } from './s3-store.ts';

export interface LakeLocation {
  /** A folder, or s3://bucket/prefix; undefined: `<dataDir>/lake`. */
  url: string | undefined;
  dataDir: string;
  s3?: {
    endpoint?: string | undefined;
    region?: string | undefined;
    accessKeyId?: string | undefined;
    secretAccessKey?: string | undefined;
  };
}

/** The lake store a location names: a local folder, or an S3 bucket (with an optional prefix). */
export function openLakeStore(location: LakeLocation): LakeStore {
  const url = location.url ?? path.join(location.dataDir, 'lake');
  if (!url.startsWith('s3://')) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
      throw new ConfigError(`RTSA_LAKE_URL is ${url}: use a folder path or s3://bucket/prefix`);
    }
    return new LocalLakeStore(url);
  }
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError(
      `RTSA_LAKE_URL is ${url}: "${bucket}" is not a valid bucket name (3-63 of a-z 0-9 . -)`,
    );
  }
  return new S3LakeStore({ bucket, prefix, ...location.s3 });
}
