/**
 * System B's checks for the shared ops kit (smoke-kit, check-report, stack-target), beside
 * realtime-checks.ts.
 *
 * Smoke: a smoke purchase (event time now, a user of its own: `smoke_<YYYYMMDD>_<run>`) posted to
 * POST /events is committed by both lake writers (every partition of the commerce topic committed
 * past the end it had once the API accepted the event, read from lake.writer_partitions) and
 * recorded in ops.smoke_purchases; the DAG has a scheduler and a worker alive, and its newest
 * finished run did not fail; the newest data-quality run did not fail; the smoke purchases of the
 * newest earlier day that silver has closed reached marts.revenue_per_user with exactly their USD
 * amount after a DAG run of that day (queued by smoke over POST /dag/runs when none succeeded
 * yet); the KPI API answers.
 *
 * Why an earlier day and not today's purchase: silver writes an event once its session closed (the
 * session gap plus the lateness after it, 40 min by default), and a run of day D waits until silver
 * is complete for D, i.e. past midnight after D. A run of today queued by smoke would hold the DAG's
 * one active slot until tomorrow (or its timeout), delaying the nightly run: smoke never queues one.
 *
 * Doctor: each lake layer's partitions, lag (end of the commerce topic minus its committed offset)
 * and last commit; the DAG's processes, its newest finished run and an overdue active one; the
 * newest data-quality run.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.ts';
import { errorMessage } from '../errors.ts';
import { CheckFailed, formatAge, formatMs, type Line, plural } from './check-report.ts';
import { pollUntil } from './deadline.ts';
import { describeNetworkError, jsonOf, request, snippet } from './http-probe.ts';
import { busLogger, type OpsIo, type Smoke } from './smoke-kit.ts';
import {
  type BusProbe,
  type DatabaseProbe,
  describeDbError,
  openBusProbe,
  type StackTarget,
  sumOffsets,
} from './stack-target.ts';

const LAYERS = ['bronze', 'silver'] as const;
type Layer = (typeof LAYERS)[number];
/** A DAG process seen within this long is alive (as `rtsa dag status` counts them). */
const PROCESS_ALIVE_SECONDS = 30;
/** A layer that has records waiting and no commit for this long is stuck. */
const LAKE_STALE_SECONDS = 120;
/** A layer further behind than this is lagging (about a minute of a busy topic). */
const LAKE_LAG_WARN = 10_000;

export interface LakehouseHints {
  lakeDown: string;
  lakeStuck: string;
  noScheduler: string;
  noWorker: string;
  runFailed: string;
  qualityFailed: string;
  kpiDown: string;
}

export function lakehouseHints(target: StackTarget): LakehouseHints {
  if (target.distributed) {
    return {
      lakeDown:
        'start the lake writers (`docker compose up -d lake-bronze lake-silver`), then `make logs s=lake-bronze` / `s=lake-silver`',
      lakeStuck:
        'the writer is stuck or gone: `make logs s=lake-bronze` / `s=lake-silver` (MinIO reachable? `make logs s=minio`); restarting it resumes from its committed offsets',
      noScheduler: 'start the DAG scheduler: `docker compose up -d scheduler` (then `make logs s=scheduler`)',
      noWorker:
        'start DAG workers: `docker compose up -d --scale worker=2 worker` (then `make logs s=worker`)',
      runFailed:
        '`docker compose run --rm ops dag runs` and GET /dag/runs/<id> show the failed task and its error; fix it, then re-run the date: POST /dag/runs {"date": "D"} (docs/runbooks.md)',
      qualityFailed:
        '`docker compose run --rm batch quality check --date D` prints the report (docs/quality.md); fix the data, then re-run the date',
      kpiDown: 'the API serves /kpi/*: `make logs s=api`',
    };
  }
  return {
    lakeDown:
      '`rtsa start` runs the lake writers: is it running on this data folder (--data-dir)? Its log says "lake writer" on a failure',
    lakeStuck:
      'a lake writer is stuck: look for "lake" errors in the `rtsa start` log (disk full? store unreachable?); restart it (Ctrl-C, `npm start`): it resumes from its committed offsets',
    noScheduler:
      'no DAG scheduler: `rtsa start` runs one; is it running (and did it start the DAG)? Or run `rtsa scheduler`',
    noWorker: 'no DAG worker: `rtsa start` runs one; is it running? Or run `rtsa worker`',
    runFailed:
      '`rtsa dag runs` and `curl <api>/dag/runs/<id>` show the failed task and its error; fix it, then `rtsa dag run --date D` (docs/runbooks.md)',
    qualityFailed:
      '`rtsa quality check --date D` prints the report (docs/quality.md); fix the data, then re-run the date',
    kpiDown: 'the API serves /kpi/*: look at the `rtsa start` log',
  };
}

// ---- queries -----------------------------------------------------------------------------------

interface LayerPosition {
  partition: number;
  committedOffset: number;
  ageSeconds: number;
}

async function layerPositions(db: DatabaseProbe, topic: string): Promise<Map<Layer, LayerPosition[]>> {
  const rows = await db.query<{ writer: string; partition: number; committed_offset: string; age: number }>(
    `SELECT writer, partition, committed_offset,
            extract(epoch FROM now() - updated_at)::float8 AS age
     FROM lake.writer_partitions WHERE topic = $1 ORDER BY writer, partition`,
    [topic],
  );
  const out = new Map<Layer, LayerPosition[]>(LAYERS.map((l) => [l, []]));
  for (const r of rows) {
    out.get(r.writer as Layer)?.push({
      partition: r.partition,
      committedOffset: Number(r.committed_offset),
      ageSeconds: r.age,
    });
  }
  return out;
}

interface DagState {
  schedulers: number;
  workers: number;
  lastFinished?:
    | { runId: number; date: string; status: string; error: string | null; ago: number }
    | undefined;
  overdue?: { runId: number; date: string; status: string; queuedAgo: number } | undefined;
}

async function dagState(db: DatabaseProbe): Promise<DagState> {
  const processes = await db.query<{ role: string; n: number }>(
    `SELECT role, count(*)::int AS n FROM orchestration.processes
     WHERE seen_at >= now() - make_interval(secs => $1) GROUP BY role`,
    [PROCESS_ALIVE_SECONDS],
  );
  const count = (role: string) => processes.find((p) => p.role === role)?.n ?? 0;
  const [last] = await db.query<{
    run_id: string;
    d: string;
    status: string;
    error: string | null;
    ago: number;
  }>(
    `SELECT run_id, to_char(logical_date, 'YYYY-MM-DD') AS d, status, error,
            extract(epoch FROM now() - finished_at)::float8 AS ago
     FROM orchestration.runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, run_id DESC LIMIT 1`,
  );
  const [overdue] = await db.query<{ run_id: string; d: string; status: string; ago: number }>(
    `SELECT run_id, to_char(logical_date, 'YYYY-MM-DD') AS d, status,
            extract(epoch FROM now() - queued_at)::float8 AS ago
     FROM orchestration.runs WHERE status IN ('queued', 'running') AND sla_at < now() ORDER BY run_id LIMIT 1`,
  );
  return {
    schedulers: count('scheduler'),
    workers: count('worker'),
    lastFinished:
      last === undefined
        ? undefined
        : { runId: Number(last.run_id), date: last.d, status: last.status, error: last.error, ago: last.ago },
    overdue:
      overdue === undefined
        ? undefined
        : { runId: Number(overdue.run_id), date: overdue.d, status: overdue.status, queuedAgo: overdue.ago },
  };
}

interface QualityState {
  runId: number;
  date: string;
  status: string;
  failed: string[];
}

async function latestQuality(db: DatabaseProbe): Promise<QualityState | undefined> {
  const rows = await db.query<{
    run_id: string;
    d: string;
    overall_status: string;
    check_name: string | null;
    status: string | null;
  }>(
    `SELECT q.run_id, to_char(q.target_date, 'YYYY-MM-DD') AS d, q.overall_status, r.check_name, r.status
     FROM (SELECT * FROM warehouse.quality_runs ORDER BY run_id DESC LIMIT 1) q
     LEFT JOIN warehouse.quality_results r ON r.run_id = q.run_id ORDER BY r.position`,
  );
  const first = rows[0];
  if (first === undefined) return undefined;
  return {
    runId: Number(first.run_id),
    date: first.d,
    status: first.overall_status,
    failed: rows.filter((r) => r.status === 'FAILED').map((r) => r.check_name ?? '?'),
  };
}

function describeRun(r: NonNullable<DagState['lastFinished']>): string {
  const error = r.error === null ? '' : `: ${r.error.split('\n')[0]}`;
  return `run ${r.runId} of ${r.date} ${r.status} ${formatAge(r.ago)} ago${error}`;
}

function openCommerceProbe(config: Config, io: OpsIo): Promise<BusProbe> {
  return openBusProbe({ ...config, topic: config.commerceTopic }, io.openBus, busLogger(config, io.logger));
}

// ---- smoke -------------------------------------------------------------------------------------

/** System B's smoke checks, after system A's (they reuse its API and database verdicts). */
export async function lakehouseSmokeChecks(s: Smoke): Promise<void> {
  const hints = lakehouseHints(s.target);
  await checkLakeCommitted(s, hints);
  await checkDagAlive(s, hints);
  await checkDagRuns(s, hints);
  await checkQuality(s, hints);
  await checkPurchaseThroughDag(s, hints);
  await checkKpi(s, hints);
}

/** The smoke purchase: EUR, so the check also sees the conversion to USD (SPEC §6.4/6.5). */
export const SMOKE_PURCHASE = { amount: '12.34', currency: 'EUR', quantity: 2, unitPrice: 6.17 } as const;

export interface SmokePurchase {
  /** The UTC day of its event time. */
  date: string;
  userId: string;
  idempotencyKey: string;
  event: Record<string, unknown>;
}

/**
 * A smoke run's purchase, event time `nowMs`: a user of its own named by the UTC day and the run
 * (`smoke_<YYYYMMDD>_<run>`), so its revenue in the marts is known in advance: exactly this one
 * purchase.
 */
export function smokePurchase(
  nowMs: number = Date.now(),
  run: string = randomBytes(4).toString('hex'),
): SmokePurchase {
  const date = new Date(nowMs).toISOString().slice(0, 10);
  const day = date.replaceAll('-', '');
  const userId = `smoke_${day}_${run}`;
  const idempotencyKey = `smoke-purchase-${day}-${run}`;
  return {
    date,
    userId,
    idempotencyKey,
    event: {
      event_id: idempotencyKey,
      idempotency_key: idempotencyKey,
      user_id: userId,
      timestamp: new Date(nowMs).toISOString(),
      event_type: 'purchase',
      device_type: 'desktop',
      ip_address: '192.0.2.1',
      schema_version: 'v1',
      payload: {
        transaction_id: `TXN-SMOKE-${day}-${run.toUpperCase()}`,
        product_id: 'PROD-SMOKE',
        product_name: 'rtsa smoke',
        category: 'Electronics',
        quantity: SMOKE_PURCHASE.quantity,
        unit_price: SMOKE_PURCHASE.unitPrice,
        discount_code: null,
        discount_amount: 0,
        total_amount: Number(SMOKE_PURCHASE.amount),
        currency: SMOKE_PURCHASE.currency,
        payment_method: 'credit_card',
      },
    },
  };
}

/** Keeps what smoke sent, for a later smoke to follow (checkPurchaseThroughDag). */
export async function recordSmokePurchase(
  db: DatabaseProbe,
  purchase: SmokePurchase,
  postedAtMs: number,
): Promise<void> {
  await db.query(
    `INSERT INTO ops.smoke_purchases
       (logical_date, user_id, idempotency_key, amount, currency, quantity, posted_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id) DO NOTHING`,
    [
      purchase.date,
      purchase.userId,
      purchase.idempotencyKey,
      SMOKE_PURCHASE.amount,
      SMOKE_PURCHASE.currency,
      SMOKE_PURCHASE.quantity,
      new Date(postedAtMs).toISOString(),
    ],
  );
}

async function checkLakeCommitted(s: Smoke, hints: LakehouseHints): Promise<void> {
  const name = 'commerce event in bronze and silver';
  const blocked = s.apiBlocked ?? s.busBlocked;
  if (blocked !== undefined) return s.checks.skip(name, blocked);
  const db = s.db;
  if (db === undefined) return s.checks.skip(name, 'needs the database');
  await s.checks.run(name, async () => {
    const postedAt = Date.now();
    const purchase = smokePurchase(postedAt);
    const { event } = purchase;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (s.config.ingestToken !== undefined) headers.authorization = `Bearer ${s.config.ingestToken}`;
    let answer: Awaited<ReturnType<typeof request>>;
    try {
      answer = await request(`${s.api}/events`, {
        method: 'POST',
        headers,
        body: JSON.stringify(event),
        timeoutMs: 15_000,
      });
    } catch (error) {
      throw new CheckFailed(`POST /events got no answer: ${describeNetworkError(error)}`, s.hints.apiDown);
    }
    const body = jsonOf(answer) as { accepted?: number } | undefined;
    if (answer.status !== 202 || body?.accepted !== 1) {
      throw new CheckFailed(
        `POST /events refused the smoke purchase: ${answer.status} ${snippet(answer.text)}`,
        answer.status === 401 || answer.status === 403 ? s.hints.ingestRefused : s.hints.apiNotRtsa,
      );
    }
    // What a later smoke follows through the DAG (checkPurchaseThroughDag).
    await recordSmokePurchase(db, purchase, postedAt).catch((error: unknown) => {
      throw new CheckFailed(
        `cannot record the smoke purchase in ops.smoke_purchases: ${describeDbError(error)}`,
        s.hints.migrations,
      );
    });
    // The event is durable once accepted: the end of each partition now lies past it.
    let ends: Map<number, number>;
    const bus = await openCommerceProbe(s.config, s.io).catch((error: unknown) => {
      throw new CheckFailed(`cannot open ${s.target.busLabel}: ${errorMessage(error)}`, s.hints.busDown);
    });
    try {
      ends = await bus.endOffsets();
    } finally {
      await bus.close();
    }
    const behind = (positions: LayerPosition[]) => {
      const at = new Map(positions.map((p) => [p.partition, p.committedOffset]));
      return [...ends].filter(([p, end]) => end > 0 && (at.get(p) ?? 0) < end).map(([p]) => p);
    };
    const done = await pollUntil(
      s.options.waitMs,
      async () => {
        const layers = await layerPositions(db, s.config.commerceTopic);
        const waiting = LAYERS.filter((l) => behind(layers.get(l) ?? []).length > 0);
        return waiting.length === 0 ? true : undefined;
      },
      { intervalMs: 500, signal: s.io.signal },
    );
    if (done.value === undefined) {
      const why = done.lastError === undefined ? '' : ` (${describeDbError(done.lastError)})`;
      const layers = await layerPositions(db, s.config.commerceTopic).catch(() => undefined);
      const detail =
        layers === undefined
          ? ''
          : LAYERS.map((l) => {
              const positions = layers.get(l) ?? [];
              if (positions.length === 0) return `${l}: never committed`;
              const late = behind(positions);
              return late.length === 0 ? `${l}: committed` : `${l}: not past partition(s) ${late.join(', ')}`;
            }).join('; ');
      const never = layers !== undefined && LAYERS.some((l) => (layers.get(l) ?? []).length === 0);
      throw new CheckFailed(
        `the smoke purchase of ${String(event.user_id)} was not committed by both lake writers in ${formatMs(done.elapsedMs)}: ${detail}${why}`,
        never ? hints.lakeDown : hints.lakeStuck,
      );
    }
    return `${String(event.user_id)}'s purchase committed by bronze and silver after ${formatMs(done.elapsedMs)} (${plural(sumOffsets(ends), 'record')} on ${s.config.commerceTopic})`;
  });
}

async function checkDagAlive(s: Smoke, hints: LakehouseHints): Promise<void> {
  const name = 'DAG scheduler and worker';
  if (s.db === undefined) return s.checks.skip(name, 'needs the database');
  const db = s.db;
  await s.checks.run(name, async () => {
    const dag = await dagState(db).catch((error: unknown) => {
      s.dagBlocked = 'the DAG tables cannot be read';
      throw new CheckFailed(
        `cannot read orchestration.processes: ${describeDbError(error)}`,
        s.hints.migrations,
      );
    });
    if (dag.schedulers === 0) {
      s.dagBlocked = 'no DAG scheduler alive';
      throw new CheckFailed('no DAG scheduler alive (none in 30 s)', hints.noScheduler);
    }
    if (dag.workers === 0) {
      s.dagBlocked = 'no DAG worker alive';
      throw new CheckFailed('no DAG worker alive (none in 30 s)', hints.noWorker);
    }
    return `${plural(dag.schedulers, 'scheduler')}, ${plural(dag.workers, 'worker')} alive`;
  });
}

async function checkDagRuns(s: Smoke, hints: LakehouseHints): Promise<void> {
  const name = 'DAG runs not failing';
  if (s.db === undefined) return s.checks.skip(name, 'needs the database');
  const db = s.db;
  await s.checks.run(name, async () => {
    const dag = await dagState(db);
    const last = dag.lastFinished;
    if (last !== undefined && last.status !== 'succeeded') {
      throw new CheckFailed(`the newest finished ${describeRun(last)}`, hints.runFailed);
    }
    return last === undefined ? 'no run has finished yet' : `newest finished: ${describeRun(last)}`;
  });
}

async function checkQuality(s: Smoke, hints: LakehouseHints): Promise<void> {
  const name = 'data quality not failing';
  if (s.db === undefined) return s.checks.skip(name, 'needs the database');
  const db = s.db;
  await s.checks.run(name, async () => {
    const q = await latestQuality(db);
    if (q === undefined) return 'no quality run yet';
    if (q.status === 'FAILED') {
      throw new CheckFailed(
        `quality run ${q.runId} of ${q.date} FAILED: ${q.failed.join(', ')}`,
        hints.qualityFailed.replace('--date D', `--date ${q.date}`),
      );
    }
    return `quality run ${q.runId} of ${q.date}: ${q.status}`;
  });
}

interface FollowedPurchase {
  user_id: string;
  idempotency_key: string;
  amount: string;
  currency: string;
  quantity: number;
  /** The amount in USD through warehouse.dim_currency, rounded to cents as the warehouse does. */
  expected_usd: string;
  total_purchases: number | null;
  total_revenue_usd: string | null;
  total_items: number | null;
  in_facts: boolean;
}

const RUN_ENDED = new Set(['succeeded', 'failed', 'timed_out']);
const DAY_MS = 86_400_000;

/**
 * The smoke purchases of the newest earlier day that silver has closed, each in
 * marts.revenue_per_user exactly: 1 purchase, its amount in USD, its quantity. When no run of that
 * day has succeeded yet, queues one over POST /dag/runs (with the ingest token) and follows it to
 * its end, within --wait.
 */
async function checkPurchaseThroughDag(s: Smoke, hints: LakehouseHints): Promise<void> {
  const name = 'purchase reaches revenue_per_user';
  const blocked = s.apiBlocked ?? s.dagBlocked;
  if (blocked !== undefined) return s.checks.skip(name, blocked);
  if (s.db === undefined) return s.checks.skip(name, 'needs the database');
  const db = s.db;
  await s.checks.run(name, async () => {
    const nowMs = Date.now();
    const today = new Date(nowMs).toISOString().slice(0, 10);
    const days = await db
      .query<{ d: string }>(
        `SELECT DISTINCT to_char(logical_date, 'YYYY-MM-DD') AS d FROM ops.smoke_purchases
         WHERE logical_date < $1::date ORDER BY d DESC LIMIT 3`,
        [today],
      )
      .catch((error: unknown) => {
        throw new CheckFailed(
          `cannot read ops.smoke_purchases: ${describeDbError(error)}`,
          s.hints.migrations,
        );
      });
    // Silver closes day D once its watermark passed the end of D + the session gap (+ the lateness).
    const closedAt = (d: string) =>
      Date.parse(`${d}T00:00:00Z`) + DAY_MS + s.config.sessionGapMs + s.config.lakeLatenessMs;
    const minute = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    const date = days.map((r) => r.d).find((d) => closedAt(d) <= nowMs);
    if (date === undefined) {
      const open = days[0]?.d ?? today;
      return `nothing to follow yet: the smoke purchases of ${open} are followed by a smoke from ${minute(closedAt(open))}, once silver has closed that day (a run of a day cannot finish before)`;
    }
    const recorded = await db.query<{ n: number; user_id: string; amount: string; currency: string }>(
      `SELECT count(*) OVER ()::int AS n, user_id, amount::text AS amount, currency
       FROM ops.smoke_purchases WHERE logical_date = $1::date ORDER BY posted_at LIMIT 1`,
      [date],
    );
    const first = recorded[0]!;
    const what =
      first.n === 1
        ? `${first.user_id}'s ${first.amount} ${first.currency} purchase of ${date}`
        : `the ${first.n} smoke purchases of ${date}`;
    const [succeeded] = await db.query<{ run_id: string }>(
      `SELECT run_id FROM orchestration.runs WHERE logical_date = $1::date AND status = 'succeeded'
       ORDER BY run_id DESC LIMIT 1`,
      [date],
    );
    const via =
      succeeded === undefined ? await runDay(s, hints, date, what) : `run ${succeeded.run_id} of ${date}`;

    const rows = await db
      .query<FollowedPurchase>(
        `SELECT p.user_id, p.idempotency_key, p.amount::text AS amount, p.currency, p.quantity,
                round(p.amount * coalesce(c.usd_rate, 1), 2)::text AS expected_usd,
                m.total_purchases::int AS total_purchases, m.total_revenue_usd::text AS total_revenue_usd,
                m.total_items::int AS total_items,
                EXISTS (SELECT 1 FROM warehouse.fact_events f
                        WHERE f.event_key = warehouse.key64(p.idempotency_key)
                          AND f.idempotency_key = p.idempotency_key) AS in_facts
         FROM ops.smoke_purchases p
         LEFT JOIN warehouse.dim_currency c ON c.currency = p.currency
         LEFT JOIN marts.revenue_per_user m ON m.user_id = p.user_id
         WHERE p.logical_date = $1::date ORDER BY p.posted_at, p.user_id`,
        [date],
      )
      .catch((error: unknown) => {
        throw new CheckFailed(
          `cannot read marts.revenue_per_user after ${via}: ${describeDbError(error)}`,
          hints.runFailed.replace('--date D', `--date ${date}`),
        );
      });
    const wrong = rows.map((r) => [r, describeFollowed(r)] as const).filter(([, problem]) => problem !== '');
    if (wrong.length > 0) {
      const [r, problem] = wrong[0]!;
      const count =
        rows.length === 1 ? '' : ` (${wrong.length} of ${rows.length} smoke purchases of ${date} wrong)`;
      throw new CheckFailed(
        `${r.user_id}'s ${r.amount} ${r.currency} purchase of ${date}, after ${via}: ${problem}${count}`,
        r.total_purchases === null && !r.in_facts
          ? `look for user_id '${r.user_id}' in silver (docs/lakehouse.md has a DuckDB query) and in the dead letters; then \`rtsa dag run --date ${date}\` re-loads the day`
          : r.total_purchases === null
            ? `the marts build left it out: \`rtsa dag run --date ${date}\` rebuilds the marts; GET /dag/runs/<id> shows marts_build`
            : `compare warehouse.fact_events (idempotency_key '${r.idempotency_key}') with the marts and warehouse.dim_currency (docs/warehouse.md)`,
      );
    }
    const usd = rows[0]!.expected_usd;
    return rows.length === 1
      ? `${what} in marts.revenue_per_user: ${usd} USD, 1 purchase, after ${via}`
      : `${what} in marts.revenue_per_user, each ${usd} USD in 1 purchase, after ${via}`;
  });
}

/** What is wrong with a followed purchase in the marts, or '' when it is exactly there. */
function describeFollowed(r: FollowedPurchase): string {
  if (r.total_purchases === null) {
    return r.in_facts
      ? 'in warehouse.fact_events but not in marts.revenue_per_user'
      : 'not in warehouse.fact_events nor in marts.revenue_per_user: lost before the warehouse (silver? the load?)';
  }
  const got = `${r.total_purchases} purchase(s), ${r.total_revenue_usd} USD, ${r.total_items} item(s)`;
  const want = `1 purchase(s), ${r.expected_usd} USD, ${r.quantity} item(s)`;
  return got === want ? '' : `marts.revenue_per_user has ${got}; expected ${want}`;
}

/** Queues a run of `date` over POST /dag/runs (or follows the active one) to its end; says which. */
async function runDay(s: Smoke, hints: LakehouseHints, date: string, what: string): Promise<string> {
  const db = s.db!;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (s.config.ingestToken !== undefined) headers.authorization = `Bearer ${s.config.ingestToken}`;
  let answer: Awaited<ReturnType<typeof request>>;
  try {
    answer = await request(`${s.api}/dag/runs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ date }),
      timeoutMs: 15_000,
    });
  } catch (error) {
    throw new CheckFailed(`POST /dag/runs got no answer: ${describeNetworkError(error)}`, s.hints.apiDown);
  }
  const body = jsonOf(answer) as { run_id?: number } | undefined;
  if ((answer.status !== 202 && answer.status !== 409) || typeof body?.run_id !== 'number') {
    throw new CheckFailed(
      `POST /dag/runs {"date": "${date}"} (to follow ${what}) answered ${answer.status}: ${snippet(answer.text)}`,
      answer.status === 401 ? s.hints.ingestRefused : s.hints.apiNotRtsa,
    );
  }
  const runId = body.run_id;
  const started = performance.now();
  s.io.write(
    `      … ${answer.status === 202 ? 'queued' : 'following the active'} run ${runId} of ${date} to follow ${what}`,
  );
  let shown = '';
  const ended = await pollUntil(
    s.options.waitMs,
    async () => {
      const state = await runState(db, runId);
      if (state.line !== shown) {
        shown = state.line;
        s.io.write(`      … run ${runId}: ${state.line}`);
      }
      return RUN_ENDED.has(state.status) ? state : undefined;
    },
    { intervalMs: 500, signal: s.io.signal },
  );
  const took = formatMs(performance.now() - started);
  if (ended.value === undefined) {
    const state = await runState(db, runId).catch(() => undefined);
    const where = state === undefined ? '' : `: ${state.line}`;
    throw new CheckFailed(
      `run ${runId} of ${date} (for ${what}) did not end within ${took}${where}`,
      state?.task === 'wait_for_silver'
        ? `silver has not closed ${date}: ${hints.lakeStuck}`
        : state?.status === 'queued'
          ? 'it waits for the run before it (one runs at a time) or for the scheduler: `rtsa dag status`; or give smoke more time (--wait)'
          : 'a task is slow: `rtsa dag status` follows it; give smoke more time (--wait 5m)',
    );
  }
  if (ended.value.status !== 'succeeded') {
    const at = ended.value.task === undefined ? '' : ` at ${ended.value.task}`;
    throw new CheckFailed(
      `run ${runId} of ${date} (for ${what}) ${ended.value.status}${at}: ${ended.value.error || 'no error recorded'}`,
      hints.runFailed.replace('--date D', `--date ${date}`),
    );
  }
  return `run ${runId} of ${date}, queued by this smoke, ${took}`;
}

/** A run's status and, while it runs (or once it failed), the task that holds it. */
async function runState(
  db: DatabaseProbe,
  runId: number,
): Promise<{ status: string; task: string | undefined; error: string; line: string }> {
  const [run] = await db.query<{ status: string; error: string | null }>(
    'SELECT status, error FROM orchestration.runs WHERE run_id = $1',
    [runId],
  );
  if (run === undefined)
    return { status: 'missing', task: undefined, error: '', line: 'not in orchestration.runs' };
  const [task] = await db.query<{ task: string; status: string; attempts: number; error: string | null }>(
    `SELECT task, status, attempts, error FROM orchestration.tasks
     WHERE run_id = $1 AND status <> 'succeeded' ORDER BY position LIMIT 1`,
    [runId],
  );
  const error = (run.error ?? task?.error ?? '').split('\n')[0];
  const on =
    task === undefined
      ? ''
      : `, ${task.task} ${task.status}${task.attempts > 1 ? ` (attempt ${task.attempts})` : ''}`;
  return {
    status: run.status,
    task: task?.task,
    error: error ?? '',
    line: `${run.status}${on}${error ? ` — ${error}` : ''}`,
  };
}

async function checkKpi(s: Smoke, hints: LakehouseHints): Promise<void> {
  const name = 'GET /kpi/summary';
  if (s.apiBlocked !== undefined) return s.checks.skip(name, s.apiBlocked);
  await s.checks.run(name, async () => {
    const answer = await request(`${s.api}/kpi/summary`).catch((error: unknown) => {
      throw new CheckFailed(`no answer: ${describeNetworkError(error)}`, hints.kpiDown);
    });
    if (answer.status !== 200 || typeof jsonOf(answer) !== 'object') {
      throw new CheckFailed(`answered ${answer.status}: ${snippet(answer.text)}`, hints.kpiDown);
    }
    return `200 in ${formatMs(answer.ms)}`;
  });
}

// ---- doctor ------------------------------------------------------------------------------------

type Finding = Omit<Line, 'ms'>;

export interface LakehouseDoctorContext {
  config: Config;
  io: OpsIo;
  target: StackTarget;
  db: DatabaseProbe | undefined;
  report(f: Finding): void;
  section(name: string): void;
}

export async function lakehouseDoctorChecks(ctx: LakehouseDoctorContext): Promise<void> {
  const { db, report, section, config } = ctx;
  const hints = lakehouseHints(ctx.target);

  section('Lake writers');
  if (db === undefined) {
    report({ status: 'skip', name: 'lake', detail: 'skipped: needs the database' });
  } else {
    let ends: Map<number, number> | undefined;
    try {
      const bus = await openCommerceProbe(config, ctx.io);
      try {
        ends = (await bus.describe()) === undefined ? new Map() : await bus.endOffsets();
      } finally {
        await bus.close();
      }
    } catch (error) {
      report({
        status: 'warn',
        name: 'commerce topic',
        detail: `cannot read the end offsets of ${config.commerceTopic}: ${errorMessage(error)}`,
        hint: 'the lag below is unknown; see the Bus section',
      });
    }
    try {
      const layers = await layerPositions(db, config.commerceTopic);
      for (const layer of LAYERS) doctorLayer(layer, layers.get(layer) ?? [], ends, hints, report);
    } catch (error) {
      report({
        status: 'fail',
        name: 'lake',
        detail: `cannot read lake.writer_partitions: ${describeDbError(error)}`,
        hint: 'run the migrations (`rtsa migrate`), or check the database',
      });
    }
  }

  section('Daily DAG');
  if (db === undefined) {
    report({ status: 'skip', name: 'DAG', detail: 'skipped: needs the database' });
  } else {
    try {
      const dag = await dagState(db);
      for (const [role, n, hint] of [
        ['scheduler', dag.schedulers, hints.noScheduler],
        ['worker', dag.workers, hints.noWorker],
      ] as const) {
        report(
          n > 0
            ? { status: 'pass', name: `${role}s`, detail: `${n} alive` }
            : {
                status: 'fail',
                name: `${role}s`,
                detail: `none alive (no heart-beat in ${PROCESS_ALIVE_SECONDS} s)`,
                hint,
              },
        );
      }
      const last = dag.lastFinished;
      if (last === undefined) report({ status: 'pass', name: 'runs', detail: 'no run has finished yet' });
      else if (last.status === 'succeeded')
        report({ status: 'pass', name: 'runs', detail: `newest finished: ${describeRun(last)}` });
      else
        report({
          status: 'fail',
          name: 'runs',
          detail: `the newest finished ${describeRun(last)}`,
          hint: hints.runFailed,
        });
      if (dag.overdue !== undefined) {
        const o = dag.overdue;
        report({
          status: 'warn',
          name: 'SLA',
          detail: `run ${o.runId} of ${o.date} is ${o.status}, queued ${formatAge(o.queuedAgo)} ago: past its SLA`,
          hint:
            o.status === 'queued'
              ? 'it waits for the run before it, or for a scheduler: `rtsa dag status`'
              : 'a task is slow or waits for silver (GET /dag/runs/<id> says which); is a worker alive, is silver caught up?',
        });
      }
    } catch (error) {
      report({
        status: 'fail',
        name: 'DAG',
        detail: `cannot read the run history: ${describeDbError(error)}`,
        hint: 'run the migrations (`rtsa migrate`), or check the database',
      });
    }
  }

  section('Data quality');
  if (db === undefined) {
    report({ status: 'skip', name: 'quality', detail: 'skipped: needs the database' });
  } else {
    try {
      const q = await latestQuality(db);
      if (q === undefined) report({ status: 'pass', name: 'quality', detail: 'no quality run yet' });
      else if (q.status === 'FAILED') {
        report({
          status: 'fail',
          name: 'quality',
          detail: `run ${q.runId} of ${q.date} FAILED: ${q.failed.join(', ')}`,
          hint: hints.qualityFailed.replace('--date D', `--date ${q.date}`),
        });
      } else report({ status: 'pass', name: 'quality', detail: `run ${q.runId} of ${q.date}: ${q.status}` });
    } catch (error) {
      report({
        status: 'fail',
        name: 'quality',
        detail: `cannot read warehouse.quality_runs: ${describeDbError(error)}`,
        hint: 'run the migrations (`rtsa migrate`), or check the database',
      });
    }
  }
}

export function doctorLayer(
  layer: Layer,
  positions: LayerPosition[],
  ends: Map<number, number> | undefined,
  hints: LakehouseHints,
  report: (f: Finding) => void,
): void {
  if (positions.length === 0) {
    const events = ends === undefined ? 0 : sumOffsets(ends);
    report(
      events > 0
        ? {
            status: 'fail',
            name: layer,
            detail: `${plural(events, 'commerce event')} on the topic, none committed: the ${layer} writer never ran`,
            hint: hints.lakeDown,
          }
        : {
            status: 'warn',
            name: layer,
            detail: `no ${layer} writer has committed yet (and no commerce event arrived)`,
            hint: hints.lakeDown,
          },
    );
    return;
  }
  const newest = Math.min(...positions.map((p) => p.ageSeconds));
  let lag: number | undefined;
  if (ends !== undefined) {
    lag = 0;
    for (const p of positions)
      lag += Math.max(0, (ends.get(p.partition) ?? p.committedOffset) - p.committedOffset);
  }
  const detail = `${plural(positions.length, 'partition')}, last commit ${formatAge(newest)} ago${lag === undefined ? '' : `, lag ${plural(lag, 'record')}`}`;
  if (lag !== undefined && lag > 0 && newest > LAKE_STALE_SECONDS) {
    report({
      status: 'fail',
      name: layer,
      detail: `${detail}: records wait and nothing was committed for over ${LAKE_STALE_SECONDS} s`,
      hint: hints.lakeStuck,
    });
  } else if (lag !== undefined && lag > LAKE_LAG_WARN) {
    report({
      status: 'warn',
      name: layer,
      detail: `${detail}: behind`,
      hint: `the ${layer} writer is slower than the producers; ${hints.lakeStuck}`,
    });
  } else report({ status: 'pass', name: layer, detail });
}
