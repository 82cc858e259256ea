/*
 * rtsa commerce page: KPI cards and pipeline checks from GET /kpi/summary (every 5 s), charts from
 * /kpi/daily-active-users and /kpi/revenue (when the marts change, and every minute), and the live
 * events of the SSE feed /kpi/feed. Charts by uPlot, loaded before this module (the global `uPlot`).
 * Text from the data (user ids, product ids come from events) only ever goes through textContent.
 */
const { uPlot } = window;

const SUMMARY_EVERY_MS = 5000;
const CHARTS_EVERY_MS = 60000;
const FEED_ROWS = 30;
const MAX_RETRY_MS = 15000;
/** No feed message (events or keep-alive) for this long: reconnect. */
const FEED_DEAD_MS = 40000;

const $ = (id) => document.getElementById(id);
const fmtInt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const fmtUsd = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' });
const fmtCompact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const fmtClock = new Intl.DateTimeFormat(undefined, {
  hour: 'numeric',
  minute: '2-digit',
  second: '2-digit',
});
const fmtDayClock = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
  second: '2-digit',
});
const fmtDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

const SEEN_MAX = 1000;
const GET_TIMEOUT_MS = 10_000;

const state = {
  source: null,
  retryMs: 1000,
  lastFeedAt: 0,
  feedEvents: 0,
  chartsKey: '',
  chartsAt: 0,
  charts: null,
  dau: null,
  /** state.dau with the days without activity filled in (the chart's points). */
  dauDays: [],
  revenue: null,
  seen: new Set(),
  seenOrder: [],
  summaryOk: false,
};

async function getJson(url) {
  // A request that cannot even start (six tabs of these pages hold every connection the browser
  // allows per host, each its live feed) fails after a while instead of freezing the figures
  // under a "Live" badge.
  const response = await fetch(url, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(GET_TIMEOUT_MS),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(body?.message ?? `HTTP ${response.status}`);
    error.code = body?.error;
    throw error;
  }
  return body;
}

function setConnection(kind, text) {
  $('conn').dataset.state = kind;
  $('conn-text').textContent = text;
}

function setCard(id, value, sub, level) {
  const card = $(id);
  card.querySelector('.value').textContent = value;
  card.querySelector('.sub').textContent = sub;
  if (level !== undefined) card.dataset.level = level;
}

const LEVEL_CARD = { ok: 'ok', warning: 'warn', failing: 'bad', unknown: 'none' };

// ---- summary ------------------------------------------------------------------------------------

async function refreshSummary() {
  let s;
  try {
    s = await getJson('/kpi/summary');
  } catch (error) {
    state.summaryOk = false;
    setConnection('stale', `Summary unavailable: ${error.message}`);
    return;
  }
  state.summaryOk = true;
  document.body.dataset.summaryAt = s.refreshed_at;
  renderSummary(s);
  updateConnection();
  const key = `${s.as_of_date}|${s.revenue.total_usd}|${s.revenue.paying_users}`;
  if (s.marts.available && (key !== state.chartsKey || Date.now() - state.chartsAt > CHARTS_EVERY_MS)) {
    state.chartsKey = key;
    state.chartsAt = Date.now();
    refreshCharts();
  }
}

function renderSummary(s) {
  $('as-of').textContent = s.as_of_date ? `marts as of ${s.as_of_date}` : '';
  const message = $('marts-message');
  message.hidden = s.marts.available;
  message.textContent = s.marts.available ? '' : `The marts are ${s.marts.detail ?? 'not built yet'}.`;
  setCard(
    'c-revenue',
    fmtUsd.format(s.revenue.total_usd),
    `${fmtInt.format(s.revenue.purchases)} purchases · ${fmtInt.format(s.revenue.paying_users)} customers`,
  );
  const a = s.active_users;
  const trend =
    a.previous === null || a.previous === 0
      ? ''
      : ` · ${a.count >= a.previous ? '+' : ''}${(((a.count - a.previous) / a.previous) * 100).toFixed(1)}% on the day before`;
  setCard('c-active', fmtInt.format(a.count), a.date ? `on ${a.date} (UTC)${trend}` : 'no day loaded yet');
  const atRisk = s.churn.high + s.churn.medium + s.churn.low;
  setCard(
    'c-churn',
    fmtInt.format(s.churn.high),
    `inactive 30+ days · ${fmtInt.format(atRisk)} at risk in all`,
    s.churn.high > 0 ? 'warn' : s.marts.available ? 'ok' : 'none',
  );
  const h = s.health;
  const name =
    { ok: 'Healthy', warning: 'Degraded', failing: 'Failing', unknown: 'Unknown' }[h.level] ?? h.level;
  setCard(
    'c-health',
    name,
    `${h.passing} of ${h.checks.length} checks passing`,
    LEVEL_CARD[h.level] ?? 'none',
  );
  renderChecks(h.checks);
  renderRuns(s.dag_runs);
  renderDq(s.dq_results);
  const rate = s.feed.available
    ? `${fmtInt.format(s.feed.events_last_minute)} events in the last minute`
    : 'no feed here';
  $('feed-rate').textContent = rate;
}

function renderChecks(checks) {
  const items = checks.map((c) => {
    const li = document.createElement('li');
    li.dataset.level = c.level;
    const name = document.createElement('span');
    name.className = 'check-name';
    name.textContent = c.name;
    const detail = document.createElement('span');
    detail.className = 'check-detail';
    detail.textContent = c.detail;
    li.append(name, detail);
    return li;
  });
  $('checks').replaceChildren(...items);
}

function emptyRow(columns, text) {
  const tr = document.createElement('tr');
  tr.className = 'empty';
  const td = document.createElement('td');
  td.colSpan = columns;
  td.textContent = text;
  tr.append(td);
  return tr;
}

function cellOf(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function statusLevel(status) {
  if (/fail|error|timeout|cancel/i.test(status)) return 'failing';
  if (/warn/i.test(status)) return 'warning';
  if (/success|passed|complete|succeeded|done/i.test(status)) return 'ok';
  return 'none';
}

function statusCell(status) {
  const td = cellOf(status);
  td.dataset.status = status;
  td.dataset.level = statusLevel(status);
  return td;
}

function took(run) {
  if (!run.started_at || !run.finished_at) return run.started_at ? 'running' : '';
  const s = (Date.parse(run.finished_at) - Date.parse(run.started_at)) / 1000;
  return s < 90 ? `${s.toFixed(1)} s` : `${Math.round(s / 60)} min`;
}

/** Runs whose tasks are shown (kept across the summary's refreshes). */
const openRuns = new Set();

/** A run's tasks, as a row under it: task, status, attempts, time, and the error of a failed one. */
function tasksRow(run) {
  const tr = document.createElement('tr');
  tr.className = 'run-tasks';
  tr.dataset.run = run.run_id;
  const td = document.createElement('td');
  td.colSpan = 4;
  const table = document.createElement('table');
  table.className = 'tasks';
  const head = document.createElement('tr');
  for (const [label, cls] of [['Task'], ['Status'], ['Attempts', 'num'], ['Took', 'num']]) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = label;
    if (cls) th.className = cls;
    head.append(th);
  }
  const thead = document.createElement('thead');
  thead.append(head);
  const tbody = document.createElement('tbody');
  for (const t of run.tasks ?? []) {
    const row = document.createElement('tr');
    row.append(
      cellOf(t.task, 'mono'),
      statusCell(t.status),
      cellOf(String(t.attempts), 'num'),
      cellOf(took(t), 'num'),
    );
    tbody.append(row);
    if (t.error) {
      const err = document.createElement('tr');
      err.className = 'task-error';
      const cell = cellOf(t.error);
      cell.colSpan = 4;
      err.append(cell);
      tbody.append(err);
    }
  }
  if ((run.tasks ?? []).length === 0) tbody.append(emptyRow(4, 'No task has started.'));
  table.append(thead, tbody);
  td.append(table);
  tr.append(td);
  return tr;
}

function renderRuns(runs) {
  const body = $('runs-body');
  if (!runs.available) return body.replaceChildren(emptyRow(4, runs.detail ?? 'Not available yet.'));
  if (runs.rows.length === 0) return body.replaceChildren(emptyRow(4, 'No run yet.'));
  // The rows are made anew at every refresh (and toggle): the keyboard focus stays on its run.
  const focused = document.activeElement?.closest?.('#runs-body .run-toggle')?.dataset.run;
  body.replaceChildren(
    ...runs.rows.flatMap((r) => {
      const tr = document.createElement('tr');
      tr.className = 'run';
      const open = openRuns.has(r.run_id);
      // The run id toggles its tasks.
      const id = document.createElement('td');
      id.className = 'mono';
      const toggle = document.createElement('button');
      toggle.type = 'button';
      toggle.className = 'run-toggle';
      toggle.dataset.run = r.run_id;
      toggle.textContent = `${open ? '▾' : '▸'} ${r.run_id}`;
      toggle.setAttribute('aria-expanded', String(open));
      toggle.title = 'Show or hide its tasks';
      toggle.addEventListener('click', () => {
        if (openRuns.has(r.run_id)) openRuns.delete(r.run_id);
        else openRuns.add(r.run_id);
        renderRuns(runs);
      });
      id.append(toggle);
      tr.append(id, cellOf(r.logical_date ?? ''), statusCell(r.status), cellOf(took(r), 'num'));
      if (r.error) tr.title = r.error;
      return open ? [tr, tasksRow(r)] : [tr];
    }),
  );
  if (focused !== undefined)
    [...body.querySelectorAll('.run-toggle')].find((b) => b.dataset.run === focused)?.focus();
}

function renderDq(results) {
  const body = $('dq-body');
  if (!results.available) return body.replaceChildren(emptyRow(3, results.detail ?? 'Not available yet.'));
  if (results.rows.length === 0) return body.replaceChildren(emptyRow(3, 'No check has run yet.'));
  body.replaceChildren(
    ...results.rows.map((r) => {
      const tr = document.createElement('tr');
      tr.append(cellOf(r.check_name), cellOf(r.logical_date ?? ''), statusCell(r.status));
      if (r.detail) tr.title = r.detail;
      return tr;
    }),
  );
}

// ---- charts -------------------------------------------------------------------------------------

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function plotHeight() {
  return window.matchMedia('(max-width: 600px)').matches ? 160 : 190;
}

function makeChart(el, caption, options) {
  const muted = cssVar('--muted');
  const grid = cssVar('--grid');
  const color = cssVar(options.color);
  const font = `11px ${getComputedStyle(document.body).fontFamily}`;
  const axis = { stroke: muted, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  let latest = '';
  const plot = new uPlot(
    {
      width: Math.max(el.clientWidth, 200),
      height: plotHeight(),
      padding: [10, 10, 0, 0],
      legend: { show: false },
      cursor: { y: false, drag: { x: false, y: false }, points: { size: 7, fill: color } },
      scales: {
        // No data: a range of its own (uPlot's would be around 0, the epoch for a time axis).
        x: {
          time: false,
          range: (_u, min, max) =>
            min === null || max === null ? [0, 1] : [min - options.pad, max + options.pad],
        },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.12 : 1] },
      },
      axes: [
        // Ticks on whole units only (a day, a rank), so a label stands under its point.
        {
          ...axis,
          size: 32,
          space: 60,
          incrs: [1, 2, 3, 5, 7, 10, 14, 20, 30, 50, 100],
          values: (_u, ticks) => ticks.map(options.xLabel),
        },
        { ...axis, size: 52, values: (_u, ticks) => ticks.map(options.yLabel) },
      ],
      series: [
        {},
        {
          label: options.label,
          stroke: color,
          width: options.bars ? 0 : 2,
          fill: `${color}${options.bars ? 'bb' : '22'}`,
          points: { show: true, size: 5, fill: color },
          ...(options.bars ? { paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } } : {}),
        },
      ],
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            caption.textContent = i === null || i === undefined ? latest : options.hover(i);
          },
        ],
      },
    },
    [[], []],
    el,
  );
  return {
    plot,
    el,
    update(x, y, newest) {
      plot.setData([x, y]);
      latest = newest;
      if (plot.cursor.idx === null || plot.cursor.idx === undefined) caption.textContent = latest;
      el.dataset.points = String(y.length);
    },
  };
}

function ensureCharts() {
  if (state.charts !== null) return state.charts;
  const dauEl = $('chart-dau');
  const revenueEl = $('chart-revenue');
  state.charts = {
    dau: makeChart(dauEl, $('dau-value'), {
      color: '--viewers',
      label: 'Daily active users',
      // x is the day's index in state.dauDays (days without activity included, at 0).
      pad: 0.5,
      xLabel: (i) => {
        const day = Number.isInteger(i) ? state.dauDays[i] : undefined;
        return day ? fmtDay.format(new Date(`${day.activity_date}T00:00:00Z`)) : '';
      },
      yLabel: (v) => fmtCompact.format(v),
      hover: (i) => {
        const r = state.dauDays[i];
        return r
          ? `${r.activity_date} · ${fmtInt.format(r.daily_active_users)} users · ${fmtInt.format(r.total_events)} events`
          : '';
      },
    }),
    revenue: makeChart(revenueEl, $('revenue-value'), {
      color: '--donations',
      label: 'Revenue',
      bars: true,
      pad: 0.6,
      xLabel: (v) => (Number.isInteger(v) && v >= 1 && v <= (state.revenue?.length ?? 0) ? `#${v}` : ''),
      yLabel: (v) => `$${fmtCompact.format(v)}`,
      hover: (i) => {
        const r = state.revenue?.[i];
        return r
          ? `#${r.rank} ${r.user_id} · ${fmtUsd.format(r.total_revenue_usd)} · ${r.user_tier ?? ''}`
          : '';
      },
    }),
  };
  for (const chart of Object.values(state.charts)) resizer.observe(chart.el);
  return state.charts;
}

const resizer = new ResizeObserver(() => {
  if (state.charts === null) return;
  for (const chart of Object.values(state.charts)) {
    chart.plot.setSize({ width: Math.max(chart.el.clientWidth, 200), height: plotHeight() });
  }
});

/** The mart's rows (days with activity) with the days between them at 0, oldest first. */
function everyDay(rows) {
  if (rows.length === 0) return [];
  const byDay = new Map(rows.map((r) => [r.activity_date, r]));
  const out = [];
  const last = Date.parse(`${rows[rows.length - 1].activity_date}T00:00:00Z`);
  for (let t = Date.parse(`${rows[0].activity_date}T00:00:00Z`); t <= last; t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push(byDay.get(day) ?? { activity_date: day, daily_active_users: 0, total_events: 0 });
  }
  return out;
}

function drawCharts() {
  const charts = ensureCharts();
  if (state.dau !== null) {
    const rows = state.dau;
    state.dauDays = everyDay(rows);
    const newest = rows[rows.length - 1];
    charts.dau.update(
      state.dauDays.map((_r, i) => i),
      state.dauDays.map((r) => r.daily_active_users),
      newest
        ? `${newest.activity_date} · ${fmtInt.format(newest.daily_active_users)}`
        : 'no activity in the marts yet',
    );
    charts.dau.el.setAttribute(
      'aria-label',
      `Daily active users over ${rows.length} days; newest ${newest ? newest.daily_active_users : 'none'}`,
    );
  }
  if (state.revenue !== null) {
    const rows = state.revenue;
    charts.revenue.update(
      rows.map((r) => r.rank),
      rows.map((r) => r.total_revenue_usd),
      rows[0] ? `top ${fmtUsd.format(rows[0].total_revenue_usd)}` : '',
    );
  }
}

async function refreshCharts() {
  try {
    const [dau, revenue] = await Promise.all([
      getJson('/kpi/daily-active-users'),
      getJson('/kpi/revenue?n=20'),
    ]);
    state.dau = dau.rows;
    state.revenue = revenue.rows;
    drawCharts();
  } catch (error) {
    if (error.code !== 'marts_not_built') setConnection('stale', `Charts unavailable: ${error.message}`);
  }
}

function rebuildCharts() {
  if (state.charts === null) return;
  for (const chart of Object.values(state.charts)) {
    resizer.unobserve(chart.el);
    chart.plot.destroy();
  }
  state.charts = null;
  drawCharts();
}

// ---- live feed ----------------------------------------------------------------------------------

function describe(e) {
  switch (e.event_type) {
    case 'purchase':
      return e.amount_usd !== undefined ? `+${fmtUsd.format(e.amount_usd)}` : 'purchase';
    case 'payment_failed':
      return e.failure_reason ?? 'failed';
    case 'page_view':
      try {
        return new URL(e.page_url).pathname;
      } catch {
        return e.page_url ?? '';
      }
    case 'user_signup':
      return e.plan_type ?? '';
    default:
      return '';
  }
}

const TYPE_NAMES = {
  purchase: 'purchase',
  payment_failed: 'failed',
  page_view: 'view',
  user_signup: 'signup',
};

function feedItem(e) {
  const li = document.createElement('li');
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.dataset.type = e.event_type;
  badge.textContent = TYPE_NAMES[e.event_type] ?? e.event_type;
  const who = document.createElement('span');
  who.className = 'feed-who mono';
  // The user id isolated: right-to-left text or a stray direction override in it must not
  // reorder the device beside it.
  const user = document.createElement('bdi');
  user.textContent = e.user_id;
  who.append(user, ` · ${e.device_type}`);
  who.title = `${e.user_id} · ${e.device_type}`;
  const what = document.createElement('bdi');
  what.className = 'feed-what';
  what.textContent = describe(e);
  what.title = what.textContent;
  const time = document.createElement('time');
  time.className = 'feed-time';
  time.dateTime = e.timestamp;
  time.title = e.timestamp;
  time.textContent = eventTime(e.timestamp);
  li.append(badge, who, what, time);
  li.dataset.eventId = e.event_id;
  return li;
}

/** An event's time: the clock for today's, with the day for older ones (a history sent now). */
function eventTime(timestamp) {
  const at = new Date(timestamp);
  if (Number.isNaN(at.getTime())) return timestamp;
  return (at.toDateString() === new Date().toDateString() ? fmtClock : fmtDayClock).format(at);
}

/**
 * Whether the feed showed `id` already (remembering the last SEEN_MAX): a reconnection's `recent`
 * frame repeats the newest events, which must not show twice.
 */
function seenBefore(id) {
  if (state.seen.has(id)) return true;
  state.seen.add(id);
  state.seenOrder.push(id);
  if (state.seenOrder.length > SEEN_MAX) state.seen.delete(state.seenOrder.shift());
  return false;
}

function addEvents(all) {
  const events = all.filter((e) => !seenBefore(e.event_id));
  if (events.length === 0) return;
  const list = $('feed-list');
  for (const empty of list.querySelectorAll('li.empty')) empty.remove();
  const newest = events.slice(-FEED_ROWS).reverse().map(feedItem);
  list.prepend(...newest);
  while (list.children.length > FEED_ROWS) list.lastElementChild.remove();
  state.feedEvents += events.length;
  list.dataset.count = String(state.feedEvents);
}

function connectFeed() {
  if (state.source !== null) state.source.close();
  const source = new EventSource(`/kpi/feed?recent=${FEED_ROWS}`);
  state.source = source;
  state.lastFeedAt = Date.now();
  const onFrame = (event) => {
    if (state.source !== source) return;
    state.lastFeedAt = Date.now();
    state.retryMs = 1000;
    try {
      addEvents(JSON.parse(event.data).events ?? []);
    } catch {
      return;
    }
    updateConnection();
  };
  source.onmessage = onFrame;
  source.addEventListener('recent', onFrame);
  source.addEventListener('heartbeat', () => {
    state.lastFeedAt = Date.now();
  });
  source.addEventListener('skipped', (event) => {
    const n = JSON.parse(event.data).skipped_events;
    setConnection('stale', `Skipped ${fmtInt.format(n)} events (slow connection)`);
  });
  source.onopen = () => {
    state.lastFeedAt = Date.now();
    updateConnection();
  };
  source.onerror = () => {
    if (state.source !== source) return;
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      state.source = null;
      state.retryTimer = setTimeout(connectFeed, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, MAX_RETRY_MS);
    }
    setConnection('reconnecting', 'Reconnecting…');
  };
}

/**
 * A hidden tab lets go of its feed connection, and takes a new one when shown (its `recent` frame
 * refills the feed; events already shown are not shown twice). Over HTTP/1.1 a browser keeps at
 * most 6 connections to a host: six open tabs of rtsa's pages would otherwise leave a seventh (or
 * any request of theirs) waiting for ever.
 */
function onVisibility() {
  if (document.visibilityState === 'hidden') {
    clearTimeout(state.retryTimer);
    if (state.source !== null) state.source.close();
    state.source = null;
  } else if (state.source === null) {
    state.retryMs = 1000;
    connectFeed();
  }
  updateConnection();
}

function updateConnection() {
  if (document.visibilityState === 'hidden') return setConnection('paused', 'Paused while the tab is hidden');
  const feedOpen = state.source !== null && state.source.readyState === EventSource.OPEN;
  if (feedOpen && state.summaryOk) setConnection('live', `Live · updated ${fmtClock.format(new Date())}`);
  else if (state.summaryOk) setConnection('stale', 'Feed connecting…');
}

function watchdog() {
  if (state.source !== null && Date.now() - state.lastFeedAt > FEED_DEAD_MS) connectFeed();
}

function start() {
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', rebuildCharts);
  refreshSummary();
  setInterval(refreshSummary, SUMMARY_EVERY_MS);
  setInterval(watchdog, 5000);
  document.addEventListener('visibilitychange', onVisibility);
  // Connects now, or (a tab opened in the background) when first shown.
  onVisibility();
}

start();
