/**
 * Topic folders: `<dir>/<topic>/topic.json` (`{partitions, createdAt}`) and one folder per partition.
 * topic.json is written last (temp file, fsync, rename), so a topic exists exactly when it is there.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, RtsaError } from '../../errors.ts';
import { LOCK_FILE } from './lock.ts';
import { syncDir } from './partition-log.ts';
import { isNotFound, listSegments, segmentPath } from './segment.ts';

export const TOPIC_FILE = 'topic.json';
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
export const MAX_PARTITIONS = 1024;

export interface TopicMeta {
  partitions: number;
  createdAt: string;
}

export function validateTopicName(name: string): void {
  if (!TOPIC_NAME.test(name) || name === '.' || name === '..' || name === LOCK_FILE) {
    throw new ConfigError(
      `topic name "${name}" is not valid: use 1-249 characters of letters, digits, ".", "_" and "-" (as Kafka does)`,
    );
  }
}

export function validatePartitionCount(partitions: number): void {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new ConfigError(
      `partition count ${partitions} is not valid: use an integer from 1 to ${MAX_PARTITIONS}`,
    );
  }
}

export function partitionDir(root: string, topic: string, partition: number): string {
  return path.join(root, topic, String(partition));
}

/** The topic's metadata, or undefined when the topic does not exist. */
export async function readTopicMeta(root: string, topic: string): Promise<TopicMeta | undefined> {
  const file = path.join(root, topic, TOPIC_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  let meta: Partial<TopicMeta>;
  try {
    meta = JSON.parse(text) as Partial<TopicMeta>;
  } catch (error) {
    throw corruptMeta(file, 'it is not JSON', error);
  }
  if (typeof meta.partitions !== 'number' || !Number.isInteger(meta.partitions) || meta.partitions < 1) {
    throw corruptMeta(file, '"partitions" is not a positive integer');
  }
  return { partitions: meta.partitions, createdAt: String(meta.createdAt ?? '') };
}

/**
 * Creates the topic's folders, an empty first segment per partition, then topic.json. The caller
 * holds the writer lock. A folder left half-made by a crash is completed.
 */
export async function createTopic(
  root: string,
  topic: string,
  partitions: number,
  now: number,
): Promise<TopicMeta> {
  const dir = path.join(root, topic);
  await mkdir(dir, { recursive: true });
  for (let p = 0; p < partitions; p++) {
    const pdir = partitionDir(root, topic, p);
    await mkdir(pdir, { recursive: true });
    if ((await listSegments(pdir)).length === 0) {
      await (await open(segmentPath(pdir, 0), 'a')).close();
      await syncDir(pdir);
    }
  }
  await syncDir(dir);
  const meta: TopicMeta = { partitions, createdAt: new Date(now).toISOString() };
  const temp = path.join(dir, `${TOPIC_FILE}.tmp`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(meta)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path.join(dir, TOPIC_FILE));
  await syncDir(dir);
  await syncDir(root);
  return meta;
}

function corruptMeta(file: string, why: string, cause?: unknown): RtsaError {
  return new RtsaError(
    'LOG_CORRUPT',
    `${file} is damaged (${why}): restore it, or write {"partitions": <count>} matching the partition folders beside it`,
    { cause },
  );
}
