import type { Config } from '../config/index.ts';
import { type LakeStore, openLakeStore } from '../lakehouse/lake-store/index.ts';

/** The lake store the settings name: RTSA_LAKE_URL (default <data-dir>/lake) and the RTSA_S3_* settings. */
export function lakeStoreFromConfig(config: Config): LakeStore {
  return openLakeStore({
    url: config.lakeUrl,
    dataDir: config.dataDir,
    s3: {
      endpoint: config.s3Endpoint,
      region: config.s3Region,
      accessKeyId: config.s3AccessKeyId,
      secretAccessKey: config.s3SecretAccessKey,
    },
  });
}
