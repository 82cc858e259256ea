/**
 * Two rtsa processes on one data folder share its embedded Postgres: `rtsa warehouse load` (or any
 * one-shot command) run beside a running `rtsa start` must leave that stack's server running, and
 * the last process to stop stops it. A server left by a process killed with -9 is still stopped by
 * the next one that uses it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startEmbeddedPostgres } from '../../src/db/index.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { postgresAnswers } from '../helpers/postgres.ts';
import { cleanEnv, runRtsa } from '../helpers/rtsa-child.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'rtsa-pg-shared-'));
});

after(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** Another process holding the embedded Postgres of `dataDir` until SIGINT (as `rtsa start` does). */
async function otherProcess(): Promise<{ child: ChildProcess; url: string }> {
  const script = `
    import { startEmbeddedPostgres } from ${JSON.stringify(path.join(ROOT, 'src/db/index.ts'))};
    import { silentLogger } from ${JSON.stringify(path.join(ROOT, 'src/telemetry/logger.ts'))};
    const handle = await startEmbeddedPostgres(${JSON.stringify(dataDir)}, silentLogger());
    process.on('SIGINT', async () => { await handle.stop(); process.exit(0); });
    console.log(handle.url);
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`the other process exited with ${code}`)));
  });
  return { child, url };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

test('a second process shares the running server, and the last one to stop stops it', {
  timeout: 120_000,
}, async () => {
  const other = await otherProcess();
  try {
    // A one-shot command beside it: uses the same server and leaves it running when it ends.
    const guest = await startEmbeddedPostgres(dataDir, silentLogger());
    assert.equal(guest.url, other.url);
    await guest.stop();
    assert.equal(await postgresAnswers(other.url), true, 'the other process lost its Postgres');

    // The first process stops while the second still uses the server: it stays up for the second.
    const second = await startEmbeddedPostgres(dataDir, silentLogger());
    other.child.kill('SIGINT');
    await exited(other.child);
    assert.equal(
      await postgresAnswers(second.url),
      true,
      'the server stopped under the process still using it',
    );
    await second.stop();
    assert.equal(
      await postgresAnswers(second.url),
      false,
      'the last process to stop left the server running',
    );
  } finally {
    other.child.kill('SIGKILL');
  }
});

test('a server left by a process killed with -9 is used, and stopped, by the next one', {
  timeout: 120_000,
}, async () => {
  const other = await otherProcess();
  other.child.kill('SIGKILL');
  await exited(other.child);
  assert.equal(await postgresAnswers(other.url), true);
  const next = await startEmbeddedPostgres(dataDir, silentLogger());
  assert.equal(next.url, other.url);
  await next.stop();
  assert.equal(await postgresAnswers(other.url), false);
});

test('a role that fails while starting stops the embedded Postgres it started', {
  timeout: 120_000,
}, async () => {
  const folder = await mkdtemp(path.join(tmpdir(), 'rtsa-pg-failed-start-'));
  // The metrics port is taken: `rtsa lake` fails after it opened the database.
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as AddressInfo).port;
  try {
    const run = await runRtsa(['lake'], {
      env: cleanEnv({ RTSA_DATA_DIR: folder, RTSA_METRICS_PORT: String(port) }),
    });
    assert.equal(run.code, 1, run.out);
    assert.match(run.out, /embedded Postgres started/, 'it had started the database');
    assert.equal(existsSync(path.join(folder, 'postgres', 'postmaster.pid')), false, 'Postgres still runs');
  } finally {
    taken.close();
    await rm(folder, { recursive: true, force: true });
  }
});
