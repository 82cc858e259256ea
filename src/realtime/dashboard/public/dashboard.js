/*
 * rtsa dashboard: renders the snapshots of GET /live (their fields: src/web/live-snapshot.ts).
 * One EventSource, reopened with back-off when it fails for good; charts by uPlot, loaded before
 * this module as a classic script (the global `uPlot`).
 * Text from the data (stream ids come from events) only ever goes through textContent.
 */
const { uPlot } = window;

const DEFAULT_MINUTES = 30;
/** No frame for STALE_MS: the connection is shown as stale; for DEAD_MS: it is reopened. */
const STALE_MS = 5000;
const DEAD_MS = 15000;
const MAX_RETRY_MS = 15000;
const RANKINGS = ['donations_usd', 'chat_messages', 'active_viewers'];
const RANKING_NAMES = {
  donations_usd: 'donations',
  chat_messages: 'chat messages',
  active_viewers: 'viewers',
};

const params = new URLSearchParams(location.search);
const state = {
  /** The stream shown: from the URL, then the one the server picked, then the user's choice. */
  streamId: params.get('stream_id') || null,
  minutes: Number(params.get('minutes')) || DEFAULT_MINUTES,
  by: 'donations_usd',
  source: null,
  retryMs: 1000,
  retryTimer: 0,
  lastFrameAt: 0,
  snapshot: null,
  optionsKey: '',
  charts: null,
};

const $ = (id) => document.getElementById(id);
const fmtInt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const fmtUsd = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' });
const fmtCompact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const fmtMinute = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fmtClock = new Intl.DateTimeFormat(undefined, {
  hour: 'numeric',
  minute: '2-digit',
  second: '2-digit',
});

// ---- connection -------------------------------------------------------------------------------

function liveUrl() {
  const q = new URLSearchParams();
  if (state.streamId !== null) q.set('stream_id', state.streamId);
  q.set('minutes', String(state.minutes));
  return `/live?${q}`;
}

function connect() {
  clearTimeout(state.retryTimer);
  if (state.source !== null) state.source.close();
  const source = new EventSource(liveUrl());
  state.source = source;
  state.lastFrameAt = Date.now();
  source.onmessage = (event) => {
    if (state.source !== source) return;
    state.lastFrameAt = Date.now();
    state.retryMs = 1000;
    let snapshot;
    try {
      snapshot = JSON.parse(event.data);
    } catch {
      return;
    }
    render(snapshot);
  };
  source.onerror = () => {
    if (state.source !== source) return;
    // CONNECTING: the browser retries by itself. CLOSED (e.g. a 503 at the connection cap): we do.
    if (source.readyState === EventSource.CLOSED) scheduleReconnect();
    setConnection('reconnecting', 'Reconnecting…');
  };
}

/**
 * A hidden tab lets go of its connection, and takes a new one when shown (its first frame is a
 * whole snapshot). Over HTTP/1.1 a browser keeps at most 6 connections to a host: six open tabs of
 * rtsa's pages would otherwise leave a seventh (or any request of theirs) waiting for ever.
 */
function onVisibility() {
  if (document.visibilityState === 'hidden') {
    clearTimeout(state.retryTimer);
    if (state.source !== null) state.source.close();
    state.source = null;
    setConnection('paused', 'Paused while the tab is hidden');
  } else if (state.source === null) {
    state.retryMs = 1000;
    connect();
  }
}

function scheduleReconnect() {
  if (state.source !== null) state.source.close();
  state.source = null;
  clearTimeout(state.retryTimer);
  state.retryTimer = setTimeout(connect, state.retryMs);
  state.retryMs = Math.min(state.retryMs * 2, MAX_RETRY_MS);
}

function watchdog() {
  if (state.source === null) return;
  const silent = Date.now() - state.lastFrameAt;
  if (silent > DEAD_MS) {
    setConnection('reconnecting', 'Reconnecting…');
    connect();
  } else if (silent > STALE_MS) {
    setConnection('stale', 'No update for a few seconds…');
  }
}

function setConnection(kind, text) {
  const conn = $('conn');
  conn.dataset.state = kind;
  $('conn-text').textContent = text;
}

// ---- rendering ----------------------------------------------------------------------------------

function render(snapshot) {
  state.snapshot = snapshot;
  if (state.streamId === null && snapshot.selected !== null) state.streamId = snapshot.selected;
  document.body.dataset.seq = String(snapshot.seq);
  const stale = snapshot.health.stale ? ' · data stale' : '';
  setConnection(
    snapshot.health.stale ? 'stale' : 'live',
    `Live · updated ${fmtClock.format(new Date(snapshot.at))}${stale}`,
  );
  renderHealth(snapshot.health);
  renderTop(snapshot.top);
  renderStreamOptions(snapshot.top);
  renderStream(snapshot);
}

function setCard(id, value, sub, level) {
  const card = $(id);
  card.querySelector('.value').textContent = value;
  if (sub !== undefined) card.querySelector('.sub').textContent = sub;
  if (level !== undefined) card.dataset.level = level;
}

function ago(seconds) {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

function renderHealth(h) {
  const processorLevel = { running: 'ok', starting: 'warn', unhealthy: 'bad', absent: 'none' }[h.processor];
  const processorText = {
    running: 'Running',
    starting: 'Starting',
    unhealthy: 'Unhealthy',
    absent: 'Elsewhere',
  }[h.processor];
  setCard(
    'h-processor',
    processorText ?? h.processor,
    h.processor_detail ?? 'committing windows',
    processorLevel ?? 'none',
  );
  setCard(
    'h-database',
    h.database === 'ok' ? 'OK' : 'Unavailable',
    h.database === 'ok' ? 'answers every second' : (h.database_detail ?? ''),
    h.database === 'ok' ? 'ok' : 'bad',
  );
  if (h.latest_window_start === null) {
    setCard('h-window', 'No data', 'no window written yet', 'none');
  } else {
    const age = h.latest_window_age_seconds;
    const write = h.last_write_age_seconds;
    const open = age !== null && age < 0 ? 'open' : `closed ${ago(age ?? 0)} ago`;
    const written = write === null ? '' : ` · written ${ago(Math.max(0, write))} ago`;
    const level = write === null ? 'none' : write < 10 ? 'ok' : write < 120 ? 'warn' : 'bad';
    setCard('h-window', fmtMinute.format(new Date(h.latest_window_start)), `${open}${written}`, level);
  }
  const soFar = h.events_open_minute === null ? '' : ` · ${fmtInt.format(h.events_open_minute)} so far`;
  setCard(
    'h-events',
    h.events_per_minute === null ? '—' : fmtInt.format(h.events_per_minute),
    `newest closed minute${soFar}`,
  );
  setCard('h-streams', fmtInt.format(h.streams));
}

function renderTop(top) {
  const body = $('top-body');
  if (top !== null) $('top-range').textContent = `last ${top.minutes} min`;
  $('top-caption').textContent =
    `Top streams by ${RANKING_NAMES[state.by]} over the last ${top?.minutes ?? 10} minutes`;
  for (const th of document.querySelectorAll('th[data-col]')) {
    if (th.dataset.col === state.by) th.setAttribute('aria-sort', 'descending');
    else th.removeAttribute('aria-sort');
  }
  const byId = new Map((top?.rows ?? []).map((r) => [r.stream_id, r]));
  const ids = (top?.by[state.by] ?? []).filter((id) => byId.has(id));
  if (ids.length === 0) {
    const tr = document.createElement('tr');
    tr.className = 'empty';
    const td = document.createElement('td');
    td.colSpan = 5;
    td.textContent = 'Waiting for the first window…';
    tr.append(td);
    body.replaceChildren(tr);
    return;
  }
  // Rows are updated in place, not rebuilt: a focused stream button keeps the keyboard focus.
  for (const empty of body.querySelectorAll('tr.empty')) empty.remove();
  while (body.rows.length > ids.length) body.lastElementChild.remove();
  while (body.rows.length < ids.length) body.append(topRow());
  ids.forEach((id, i) => {
    const r = byId.get(id);
    const tr = body.rows[i];
    const selected = id === state.streamId;
    tr.classList.toggle('selected', selected);
    tr.cells[0].textContent = String(i + 1);
    const button = tr.cells[1].firstElementChild;
    button.dataset.stream = id;
    button.textContent = id;
    button.title = `Chart ${id}`;
    if (selected) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
    tr.cells[2].textContent = fmtInt.format(r.active_viewers);
    tr.cells[3].textContent = fmtInt.format(r.chat_messages);
    tr.cells[4].textContent = fmtUsd.format(r.donations_usd);
  });
}

function topRow() {
  const tr = document.createElement('tr');
  const rank = document.createElement('td');
  rank.className = 'rank';
  const name = document.createElement('td');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'stream-link mono';
  button.addEventListener('click', () => selectStream(button.dataset.stream));
  name.append(button);
  tr.append(rank, name, numberCell(), numberCell(), numberCell());
  return tr;
}

function numberCell() {
  const td = document.createElement('td');
  td.className = 'num';
  return td;
}

/** The stream picker lists the streams of the top tables and the one shown; rebuilt only when that set changes. */
function renderStreamOptions(top) {
  const ids = new Set(top === null ? [] : top.rows.map((r) => r.stream_id));
  if (state.streamId !== null) ids.add(state.streamId);
  const sorted = [...ids].sort();
  const key = sorted.join('\u0000');
  const select = $('stream-select');
  if (key !== state.optionsKey) {
    state.optionsKey = key;
    select.replaceChildren(
      ...sorted.map((id) => {
        const option = document.createElement('option');
        option.value = id;
        option.textContent = id;
        return option;
      }),
    );
  }
  if (state.streamId !== null) select.value = state.streamId;
}

function renderStream(snapshot) {
  const stream = snapshot.stream;
  $('stream-name').textContent = state.streamId ?? '—';
  const message = $('stream-message');
  const loading = stream === null || stream.stream_id !== state.streamId || stream.minutes !== state.minutes;
  $('stream').classList.toggle('loading', loading);
  if (loading) {
    message.hidden = false;
    message.textContent =
      snapshot.top === null ? 'Waiting for the first window to be written…' : 'Loading the stream…';
    return;
  }
  const s = stream.series;
  const last = s.t.length - 1;
  const total = s.donations.reduce((a, b) => a + b, 0);
  const hasData = s.viewers.some((v) => v !== null) || total > 0 || s.chat.some((v) => v > 0);
  message.hidden = hasData;
  message.textContent = hasData
    ? ''
    : `No events for ${stream.stream_id} in the last ${stream.minutes} minutes.`;

  const st = stream.state;
  setCard(
    'k-viewers',
    st === null ? '—' : fmtInt.format(st.active_viewers),
    st === null ? 'stream not seen yet' : `last event ${fmtClock.format(new Date(st.last_event_at))}`,
  );
  const minute = last >= 0 ? `window ${fmtMinute.format(new Date(s.t[last] * 1000))}` : '';
  setCard('k-chat', last >= 0 ? fmtInt.format(s.chat[last]) : '—', minute);
  setCard('k-donations', last >= 0 ? fmtUsd.format(s.donations[last]) : '—', minute);
  setCard('k-total', fmtUsd.format(total), `last ${rangeName(stream.minutes)}`);

  const charts = ensureCharts();
  charts.viewers.update(s.t, s.viewers, stream.stream_id);
  charts.chat.update(s.t, s.chat, stream.stream_id);
  charts.donations.update(s.t, s.donations, stream.stream_id);
}

function rangeName(minutes) {
  return minutes % 60 === 0 ? `${minutes / 60} h` : `${minutes} min`;
}

// ---- charts -------------------------------------------------------------------------------------

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function plotHeight() {
  return window.matchMedia('(max-width: 600px)').matches ? 150 : 170;
}

/** One chart: a line (viewers) or bars (per-minute counts), its caption showing the newest or hovered value. */
function makeChart(key, label, kind, format) {
  const el = $(`chart-${key}`);
  const caption = el.parentElement.querySelector('.chart-value');
  const color = cssVar(`--${key}`);
  const muted = cssVar('--muted');
  const grid = cssVar('--grid');
  const font = `11px ${getComputedStyle(document.body).fontFamily}`;
  const axis = { stroke: muted, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  let latestText = '';
  let sparse = false;
  const plot = new uPlot(
    {
      width: Math.max(el.clientWidth, 200),
      height: plotHeight(),
      padding: [10, 10, 0, 0],
      legend: { show: false },
      cursor: { y: false, drag: { x: false, y: false }, points: { size: 7, fill: color } },
      scales: {
        // Half a minute of room each side, so the first and last bars are whole.
        x: { time: true, range: (_u, min, max) => [min - 30, max + 30] },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.12 : 1] },
      },
      axes: [
        {
          ...axis,
          size: 32,
          space: 72,
          values: (_u, ticks) => ticks.map((t) => fmtMinute.format(new Date(t * 1000))),
        },
        {
          ...axis,
          size: 52,
          values: (_u, ticks) =>
            ticks.map((v) => (kind === 'usd' ? `$${fmtCompact.format(v)}` : fmtCompact.format(v))),
        },
      ],
      series: [
        {},
        {
          label,
          stroke: color,
          width: kind === 'line' ? 2 : 0,
          fill: `${color}${kind === 'line' ? '22' : 'bb'}`,
          // A line needs two points: while the stream has only a few, show them as dots.
          points: { show: () => kind === 'line' && sparse, size: 6, fill: color },
          spanGaps: false,
          ...(kind === 'line' ? {} : { paths: uPlot.paths.bars({ size: [0.72, 40] }) }),
        },
      ],
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            if (i === null || i === undefined || u.data[1][i] === undefined) {
              caption.textContent = latestText;
              return;
            }
            const v = u.data[1][i];
            caption.textContent = `${fmtMinute.format(new Date(u.data[0][i] * 1000))} · ${v === null ? '—' : format(v)}`;
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
    update(t, values, streamId) {
      const points = values.filter((v) => v !== null);
      sparse = points.length <= 3;
      plot.setData([t, values]);
      const newest = points.length > 0 ? values[values.length - 1] : null;
      latestText = newest === null || newest === undefined ? '' : `now ${format(newest)}`;
      if (plot.cursor.idx === null || plot.cursor.idx === undefined) caption.textContent = latestText;
      el.dataset.stream = streamId;
      el.dataset.points = String(points.length);
      el.dataset.last = newest === null || newest === undefined ? '' : String(newest);
      const max = points.length > 0 ? Math.max(...points) : 0;
      el.setAttribute(
        'aria-label',
        `${label} of ${streamId}, last ${rangeName(t.length)}: newest ${newest === null ? 'none' : format(newest)}, highest ${format(max)}`,
      );
    },
  };
}

function ensureCharts() {
  if (state.charts !== null) return state.charts;
  state.charts = {
    viewers: makeChart('viewers', 'Active viewers', 'line', (v) => fmtInt.format(v)),
    chat: makeChart('chat', 'Chat messages per minute', 'bars', (v) => fmtInt.format(v)),
    donations: makeChart('donations', 'Donations per minute', 'usd', (v) => fmtUsd.format(v)),
  };
  for (const chart of Object.values(state.charts)) resizer.observe(chart.el);
  return state.charts;
}

/** Charts follow the width of their panel (uPlot draws at a fixed size). */
const resizer = new ResizeObserver(() => {
  if (state.charts === null) return;
  for (const chart of Object.values(state.charts)) {
    chart.plot.setSize({ width: Math.max(chart.el.clientWidth, 200), height: plotHeight() });
  }
});

/** Colours come from CSS: charts are rebuilt when the colour scheme changes. */
function rebuildCharts() {
  if (state.charts === null) return;
  for (const chart of Object.values(state.charts)) {
    resizer.unobserve(chart.el);
    chart.plot.destroy();
  }
  state.charts = null;
  if (state.snapshot !== null) renderStream(state.snapshot);
}

// ---- controls -----------------------------------------------------------------------------------

function remember() {
  const q = new URLSearchParams();
  if (state.streamId !== null) q.set('stream_id', state.streamId);
  if (state.minutes !== DEFAULT_MINUTES) q.set('minutes', String(state.minutes));
  const search = q.toString();
  history.replaceState(null, '', search === '' ? location.pathname : `?${search}`);
}

function selectStream(id) {
  if (id === state.streamId) return;
  state.streamId = id;
  remember();
  if (state.snapshot !== null) {
    renderTop(state.snapshot.top);
    renderStream(state.snapshot);
  }
  connect();
}

function start() {
  const range = $('range-select');
  if (![...range.options].some((o) => Number(o.value) === state.minutes)) {
    const option = document.createElement('option');
    option.value = String(state.minutes);
    option.textContent = rangeName(state.minutes);
    range.append(option);
  }
  range.value = String(state.minutes);
  range.addEventListener('change', () => {
    state.minutes = Number(range.value);
    remember();
    if (state.snapshot !== null) renderStream(state.snapshot);
    connect();
  });
  $('stream-select').addEventListener('change', (event) => selectStream(event.target.value));
  for (const button of document.querySelectorAll('.segmented button')) {
    button.addEventListener('click', () => {
      if (!RANKINGS.includes(button.dataset.by)) return;
      state.by = button.dataset.by;
      for (const b of document.querySelectorAll('.segmented button')) {
        b.setAttribute('aria-pressed', String(b === button));
      }
      if (state.snapshot !== null) renderTop(state.snapshot.top);
    });
  }
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', rebuildCharts);
  setInterval(watchdog, 1000);
  document.addEventListener('visibilitychange', onVisibility);
  // Connects now, or (a tab opened in the background) when first shown.
  onVisibility();
}

start();
