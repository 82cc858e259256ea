/**
 * The single-writer lock of a log folder: `<dir>/writer.lock`, created exclusively, holding the
 * owner's pid. A lock whose owner is gone (pid dead, or written before the last reboot) is stale
 * and taken over, so kill -9 or a power cut never leaves the log unusable.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { RtsaError } from '../../errors.ts';
import type { Logger } from '../../telemetry/logger.ts';

export const LOCK_FILE = 'writer.lock';

/** How long a writer waits out another process's brief hold of the writer lock. */
const LOCK_WAIT_MS = 5_000;

/**
 * Runs `attempt` again every 50 ms while it throws LOG_LOCKED, for up to `waitMs`: another process
 * may hold the writer lock for a moment (roles started together on a fresh folder create their
 * topics). A process that keeps the lock still gets its LOG_LOCKED, after the wait.
 */
export async function whileLogLocked<T>(attempt: () => T | Promise<T>, waitMs = LOCK_WAIT_MS): Promise<T> {
  for (const started = Date.now(); ; ) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof RtsaError && error.code === 'LOG_LOCKED') || Date.now() - started > waitMs) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
/** A lock file still empty after this long was left by a process that died while creating it. */
const EMPTY_LOCK_STALE_MS = 10_000;

interface LockContent {
  pid: number;
  host: string;
  bootId: string | undefined;
  since: string;
  token: string;
}

/** Locks held by this process, by real path: a second EmbeddedBus on the same folder must not write. */
const heldHere = new Map<string, string>();

export class WriterLock {
  readonly file: string;
  private readonly token: string;
  private released = false;

  private constructor(file: string, token: string) {
    this.file = file;
    this.token = token;
  }

  /** Takes the lock of `dir` or throws RtsaError('LOG_LOCKED') naming the holder. */
  static acquire(dir: string, logger: Logger, kind: LockKind = WRITER_LOCK): WriterLock {
    mkdirSync(dir, { recursive: true });
    const file = path.join(realpathSync(dir), kind.file);
    for (let attempt = 0; attempt < 5; attempt++) {
      const token = randomUUID();
      const content: LockContent = {
        pid: process.pid,
        host: hostname(),
        bootId: currentBootId(),
        since: new Date().toISOString(),
        token,
      };
      let fd: number;
      try {
        fd = openSync(file, 'wx', 0o644);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        takeOverIfStale(file, logger, kind);
        continue;
      }
      try {
        writeSync(fd, `${JSON.stringify(content)}\n`);
      } finally {
        closeSync(fd);
      }
      heldHere.set(file, token);
      return new WriterLock(file, token);
    }
    throw lockedError(file, readLock(file), kind);
  }

  /** Removes the lock file if it is still ours. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (heldHere.get(this.file) === this.token) heldHere.delete(this.file);
    const holder = readLock(this.file);
    if (typeof holder === 'object' && holder.token === this.token) {
      try {
        unlinkSync(this.file);
      } catch {
        // gone already: nothing to release
      }
    }
  }
}

/** Returns when the lock at `file` was stale and has been removed; throws LOG_LOCKED when it is held. */
function takeOverIfStale(file: string, logger: Logger, kind: LockKind): void {
  const holder = readLock(file);
  if (holder === 'missing') return;
  if (holder === undefined) {
    // Empty or unreadable: a process is writing it right now, or died doing so.
    if (ageMs(file) < EMPTY_LOCK_STALE_MS) throw lockedError(file, undefined, kind);
  } else if (isAlive(file, holder)) {
    throw lockedError(file, holder, kind);
  }
  const aside = `${file}.stale-${process.pid}-${randomUUID()}`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else took it over first
    throw error;
  }
  const moved = readLock(aside);
  const sameHolder =
    holder === undefined ? moved === undefined : typeof moved === 'object' && moved.token === holder.token;
  if (!sameHolder) {
    // Between our read and our rename another process took the stale lock over: give it back.
    try {
      linkSync(aside, file);
    } catch {
      // a third process holds it now; either way it is not ours
    }
    unlinkSync(aside);
    throw lockedError(file, typeof moved === 'object' ? moved : undefined, kind);
  }
  unlinkSync(aside);
  logger.warn(
    { lock: file, stalePid: holder?.pid },
    `embedded log: took over a stale ${kind.what} lock (its process is gone)`,
  );
}

function isAlive(file: string, holder: LockContent): boolean {
  const bootId = currentBootId();
  if (holder.bootId && bootId && holder.bootId !== bootId) return false;
  if (holder.pid === process.pid) return heldHere.get(file) === holder.token;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a lock file guards, and the error a second taker gets. */
export interface LockKind {
  file: string;
  /** For log lines: `writer`, `consumer group`. */
  what: string;
  /** `who` holds it (a phrase), `stop` how to stop it (` (kill N)` or empty). */
  error(dir: string, file: string, who: string, stop: string): RtsaError;
}

const WRITER_LOCK: LockKind = {
  file: LOCK_FILE,
  what: 'writer',
  error: (dir, file, who, stop) =>
    new RtsaError(
      'LOG_LOCKED',
      `the embedded log in ${dir} is being written by ${who}: only one process may append to it. ` +
        `Post events to the running API (\`--api-url http://localhost:8000\`) or stop it${stop}; ` +
        `if no such process exists, delete ${file}`,
    ),
};

function lockedError(file: string, holder: LockContent | 'missing' | undefined, kind: LockKind): RtsaError {
  const who =
    typeof holder === 'object'
      ? holder.pid === process.pid
        ? `another part of this process (pid ${holder.pid})`
        : `another rtsa process (pid ${holder.pid} on ${holder.host}, since ${holder.since})`
      : 'another rtsa process that is starting up';
  const stop = typeof holder === 'object' && holder.pid !== process.pid ? ` (kill ${holder.pid})` : '';
  return kind.error(path.dirname(file), file, who, stop);
}

function readLock(file: string): LockContent | 'missing' | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockContent>;
    if (typeof parsed.pid !== 'number' || typeof parsed.token !== 'string') return undefined;
    return {
      pid: parsed.pid,
      host: String(parsed.host ?? 'unknown host'),
      bootId: typeof parsed.bootId === 'string' ? parsed.bootId : undefined,
      since: String(parsed.since ?? 'unknown'),
      token: parsed.token,
    };
  } catch {
    return undefined;
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

let bootIdCache: string | null | undefined;
/** Linux boot id: a lock written before the last reboot is stale whatever its pid. */
function currentBootId(): string | undefined {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache ?? undefined;
}
