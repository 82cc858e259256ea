/**
 * Segment files: `<partition dir>/<20-digit base offset>.log`, each holding consecutive records
 * from its base offset on. Only the last segment of a partition is appended to; the others are
 * sealed (complete and fsynced before the next one was created).
 */
import { constants, type FileHandle, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkFrame, frameBytesNeeded, frameTimestamp, INVALID } from './record-format.ts';

const SEGMENT_FILE = /^(\d{20})\.log$/;
/** Bytes read at a time when scanning or reading a segment. */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.log`;
}

export function segmentPath(partitionDir: string, baseOffset: number): string {
  return path.join(partitionDir, segmentFileName(baseOffset));
}

/** Base offsets of the segments in a partition folder, oldest first ([] when the folder is missing). */
export async function listSegments(partitionDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(partitionDir);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
  const bases: number[] = [];
  for (const name of names) {
    const match = SEGMENT_FILE.exec(name);
    if (match) bases.push(Number(match[1]));
  }
  return bases.sort((a, b) => a - b);
}

export async function fileExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Opens a segment for reading, or undefined when it is gone (deleted by retention). */
export async function openForReading(file: string): Promise<FileHandle | undefined> {
  try {
    return await open(file, constants.O_RDONLY);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export interface ScanResult {
  /** Byte position just after the last complete valid record. */
  validBytes: number;
  /** Complete valid records from the start position up to `validBytes`. */
  records: number;
  /** Newest append time among the valid records, if any. */
  maxTimestamp: number | undefined;
  /** Bytes of the file seen (its size when scanned). */
  fileBytes: number;
  /** Why the scan stopped before `fileBytes`: a frame that will never be valid, or one cut short. */
  stoppedAt: 'end' | 'invalid' | 'incomplete';
}

/**
 * Walks the records of a segment from byte `from`, checking each frame, until the end of the file or
 * the first frame that is not a complete valid record.
 */
export async function scanSegment(file: FileHandle, from = 0): Promise<ScanResult> {
  const fileBytes = (await file.stat()).size;
  let position = from;
  let records = 0;
  let maxTimestamp: number | undefined;
  let chunk = Buffer.allocUnsafeSlow(Math.min(READ_CHUNK_BYTES, Math.max(fileBytes - from, 0)));
  while (position < fileBytes) {
    const want = Math.min(Math.max(chunk.length, 1), fileBytes - position);
    if (chunk.length < want) chunk = Buffer.allocUnsafeSlow(want);
    const { bytesRead } = await file.read(chunk, 0, want, position);
    if (bytesRead === 0) break;
    let pos = 0;
    for (;;) {
      const size = checkFrame(chunk, pos, bytesRead);
      if (size < 0) {
        if (size === INVALID) {
          return { validBytes: position + pos, records, maxTimestamp, fileBytes, stoppedAt: 'invalid' };
        }
        break;
      }
      const timestamp = frameTimestamp(chunk, pos);
      if (maxTimestamp === undefined || timestamp > maxTimestamp) maxTimestamp = timestamp;
      records++;
      pos += size;
    }
    if (pos === 0) {
      // The frame at `position` does not fit in the chunk: read it whole, or stop if the file ends first.
      const needed = frameBytesNeeded(chunk, 0, bytesRead);
      if (position + needed > fileBytes) {
        return { validBytes: position, records, maxTimestamp, fileBytes, stoppedAt: 'incomplete' };
      }
      chunk = Buffer.allocUnsafeSlow(needed);
      continue;
    }
    position += pos;
  }
  return { validBytes: position, records, maxTimestamp, fileBytes, stoppedAt: 'end' };
}

export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
