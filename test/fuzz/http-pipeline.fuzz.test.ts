/**
 * Fuzz suite (issue 11): generated hostile events thrown at a real `rtsa start` (a child process
 * with its embedded log and Postgres, as a user runs it) over HTTP. After every batch: the process
 * is alive, /health is 200, every line is answered (valid ones accepted, invalid ones refused with a
 * reason). At the end: every valid event is counted exactly once, every invalid one is
 * dead-lettered with a reason, and after a kill -9 a restart on the same data folder starts, stays
 * up and changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { findEmbeddedDatabase } from '../../src/ops/embedded-database.ts';
import { type RtsaChild, type RtsaSandbox, rtsaSandbox, until, waitHealthy } from '../helpers/rtsa-child.ts';
import { type HostileLine, hostileBatch } from './hostile-events.ts';

const RUNS = Number(process.env.RTSA_FUZZ_RUNS ?? 80);
const SKEW_MS = 5 * 60_000; // the default RTSA_MAX_FUTURE_SKEW

let rtsa: RtsaSandbox;

before(async () => {
  rtsa = await rtsaSandbox('rtsa-fuzz-');
});

after(() => rtsa?.remove());

const start = (): RtsaChild =>
  rtsa.start(['--no-generator', '--log-format', 'json', '--log-level', 'warn', '--flush-interval', '100ms'], {
    output: 'inherit',
  });

function alive({ proc }: RtsaChild): void {
  assert.equal(proc.exitCode, null, 'rtsa is still running');
  assert.equal(proc.signalCode, null, 'rtsa is still running');
}

interface IngestAnswer {
  accepted: number;
  rejected: number;
  errors: { line: number; reason: string; detail: string }[];
}

test('hostile events over HTTP: alive, answered, counted once, dead-lettered, and a restart stays up', {
  timeout: 170_000,
}, async () => {
  let c = start();
  await waitHealthy(rtsa.base);
  const expected = new Map<string, number>();
  let invalidTotal = 0;
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constant(null).chain(() => hostileBatch({ now: Date.now(), skewMs: SKEW_MS, run: `r${run++}` }, 40)),
      async (lines: HostileLine[]) => {
        const response = await fetch(`${rtsa.base}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body: lines.map((l) => l.line).join('\n'),
        });
        assert.ok(response.status === 202 || response.status === 400, `status ${response.status}`);
        const answer = (await response.json()) as IngestAnswer;
        const invalid = lines.flatMap((l, i) => (l.valid ? [] : [i + 1]));
        const wrong = answer.errors
          .filter((e) => lines[e.line - 1]?.valid)
          .map((e) => [lines[e.line - 1]?.kind, e.detail]);
        assert.deepEqual(wrong, [], 'no valid event refused');
        assert.deepEqual(
          answer.errors.map((e) => e.line),
          invalid,
          `every invalid line refused: ${JSON.stringify(invalid.map((i) => lines[i - 1]?.kind))}`,
        );
        for (const e of answer.errors) assert.ok(e.reason.length > 0 && e.detail.length > 0, 'with a reason');
        assert.equal(answer.accepted, lines.length - invalid.length);
        for (const l of lines) if (l.valid) expected.set(l.stream!, (expected.get(l.stream!) ?? 0) + 1);
        invalidTotal += invalid.length;
        alive(c);
        assert.equal((await fetch(`${rtsa.base}/health`)).status, 200);
      },
    ),
    { numRuns: RUNS, seed: Number(process.env.RTSA_FUZZ_SEED ?? 11), endOnFailure: true },
  );

  const db = await findEmbeddedDatabase(rtsa.dir);
  assert.equal(db.state, 'running');
  const pool = new pg.Pool({ connectionString: (db as { url: string }).url, max: 2 });
  try {
    const counted = async () => {
      const { rows } = await pool.query<{ stream_id: string; n: number }>(
        `SELECT stream_id, sum(events)::int AS n FROM stream_metrics_minute GROUP BY stream_id`,
      );
      return new Map(rows.map((r) => [r.stream_id, r.n]));
    };
    const total = [...expected.values()].reduce((a, b) => a + b, 0);
    assert.ok(total > 0 && invalidTotal > 0, `exercised both: ${total} valid, ${invalidTotal} invalid`);
    const seen = await until(
      'every valid event counted',
      async () => {
        const m = await counted();
        return [...m.values()].reduce((a, b) => a + b, 0) >= total ? m : undefined;
      },
      60_000,
    );
    assert.deepEqual(
      [...seen].sort(([a], [b]) => (a < b ? -1 : 1)),
      [...expected].sort(([a], [b]) => (a < b ? -1 : 1)),
      'every valid event counted exactly once, in its own stream (twins kept apart)',
    );
    const dead = await pool.query<{ source: string; n: number; unreasoned: number }>(
      `SELECT source, count(*)::int AS n, count(*) FILTER (WHERE reason = '' OR detail = '')::int AS unreasoned
       FROM dead_letter_events GROUP BY source`,
    );
    assert.deepEqual(
      dead.rows.map((r) => [r.source, r.n, r.unreasoned]),
      invalidTotal > 0 ? [['http', invalidTotal, 0]] : [],
      'every invalid event dead-lettered with a reason; no valid one',
    );

    // kill -9, then a restart on the same data folder: it starts, stays up, and changes nothing.
    await c.kill9();
    await pool.end();
    c = start();
    await waitHealthy(rtsa.base);
    await new Promise((r) => setTimeout(r, 3_000));
    alive(c);
    assert.equal((await fetch(`${rtsa.base}/health`)).status, 200);
    const again = await findEmbeddedDatabase(rtsa.dir);
    const pool2 = new pg.Pool({ connectionString: (again as { url: string }).url, max: 1 });
    try {
      const { rows } = await pool2.query<{ n: number }>(
        `SELECT sum(events)::int AS n FROM stream_metrics_minute`,
      );
      assert.equal(rows[0]!.n, total, 'the restart counted nothing twice');
    } finally {
      await pool2.end();
    }
    await c.stop('SIGINT', 30_000);
    assert.equal(c.proc.exitCode, 0, 'Ctrl-C exits cleanly');
  } finally {
    await pool.end().catch(() => {});
  }
});
