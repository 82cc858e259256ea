export { checkKey, type LakeStore, STAGING_PREFIX } from './lake-store.ts';
export { LocalLakeStore } from './local-store.ts';
export { type S3LakeOptions, S3LakeStore } from './s3-store.ts';
export { openLakeStore } from './open-lake-store.ts';
