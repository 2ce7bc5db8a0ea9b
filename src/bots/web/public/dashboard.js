/* global document */
// The dashboard: re-rendered from each status the server pushes (it pushes only on change).
import { connect, fmtBytes, fmtSeconds, getJson, h, post, userLabel } from './common.js';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
let you = '';
let last = null;

function cancelButton(jobId) {
  return h('button', { type: 'button', class: 'quiet cancel', dataset: { jobId }, onclick: () => cancel(jobId) }, 'Cancel');
}

async function cancel(jobId) {
  const res = await post('/api/cancel', { jobId });
  $('dash-hint').textContent = res.ok ? '' : res.error.message;
}

function empty(text) {
  return h('p', { class: 'muted' }, text);
}

function renderGpu(v) {
  if (v.running.length === 0) return $('gpu').replaceChildren(empty('Idle.'));
  $('gpu').replaceChildren(
    h('p', { class: 'muted' }, v.current ? `Running a step of ${v.current.model}.` : 'Between steps.'),
    ...v.running.map((r) =>
      h(
        'div',
        { class: 'running', dataset: { jobId: r.jobId, user: r.userId } },
        h('span', { class: 'who' }, userLabel(r.userId, you)),
        h('span', { class: 'kind' }, r.kind),
        h('progress', { max: Math.max(1, r.of), value: r.step }),
        h('span', { class: 'muted' }, `step ${r.step} of ${r.of}`),
        cancelButton(r.jobId),
      ),
    ),
  );
}

/** Live nvidia-smi readings per GPU, or why there are none. */
function renderTelemetry(t) {
  $('telemetry').replaceChildren(...telemetryNodes(t));
}

/** The nodes showing one telemetry (this hearth's GPUs, or a worker's). */
function telemetryNodes(t) {
  if (!t || t.state === 'pending') return [empty('Reading the GPU…')];
  if (t.state !== 'ok' || t.gpus.length === 0) {
    return [h('p', { class: 'muted no-telemetry' }, `No GPU telemetry: ${t.message ?? 'nvidia-smi lists no GPU'}.`)];
  }
  const na = (x, fmt) => (x === null ? 'N/A' : fmt(x));
  const rows = t.gpus.map((g) => {
    const bar = h('div', { class: 'meter' }, h('div', { class: 'fill' }));
    const share = g.memoryUsedBytes !== null && g.memoryTotalBytes ? g.memoryUsedBytes / g.memoryTotalBytes : 0;
    bar.firstChild.style.width = `${Math.min(100, 100 * share)}%`;
    return h(
      'div',
      { class: 'gpu-reading', dataset: { gpu: String(g.index) } },
      h('h3', {}, `GPU ${g.index}`),
      h(
        'p',
        {},
        h('span', { class: 'util' }, `${na(g.utilization, (u) => `${Math.round(u * 100)}%`)} busy`),
        ' · ',
        h('span', { class: 'temp' }, na(g.temperatureCelsius, (c) => `${Math.round(c)} °C`)),
        ' · ',
        h('span', { class: 'power' }, na(g.powerWatts, (w) => `${Math.round(w)} W`)),
      ),
      h('p', { class: 'mem' }, `VRAM ${na(g.memoryUsedBytes, fmtBytes)} of ${na(g.memoryTotalBytes, fmtBytes)}`),
      bar,
    );
  });
  const own = t.hearthMemoryBytes === null ? [] : [h('p', { class: 'muted own' }, `hearth's processes: ${fmtBytes(t.hearthMemoryBytes)} of VRAM`)];
  const at = t.at ? [h('p', { class: 'muted' }, `read ${new Date(t.at).toLocaleTimeString()}, every ${t.pollSeconds} s`)] : [];
  return [...rows, ...own, ...at];
}

/** A cluster's GPU workers: models, VRAM, what each runs, its own telemetry. Hidden on one box. */
function renderWorkers(workers) {
  $('workers-panel').hidden = workers === null || workers === undefined;
  if (!workers) return;
  if (workers.length === 0) return $('workers').replaceChildren(empty('No GPU worker has joined. Start one with hearth worker --config FILE.'));
  $('workers').replaceChildren(
    ...workers.map((w) =>
      h(
        'div',
        { class: 'worker', dataset: { worker: w.name } },
        h('h3', {}, `${w.name} `, h('span', { class: 'muted' }, `${w.host}${w.draining ? ' · leaving' : ''}`)),
        h('p', { class: 'models' }, `Models: ${w.models.map((m) => `${m.model} (${m.kind})`).join(', ') || 'none'} · VRAM ${fmtBytes(w.vramBudgetBytes)}`),
        h('p', { class: 'slots' }, `${w.running.length} of ${w.capacity} slots busy`),
        ...w.running.map((r) =>
          h('div', { class: 'running', dataset: { jobId: r.jobId, user: r.userId } }, h('span', { class: 'who' }, userLabel(r.userId, you)), h('span', { class: 'kind' }, `${r.kind} · ${r.model}`)),
        ),
        ...telemetryNodes(w.gpu),
      ),
    ),
  );
}

function renderVram(v) {
  const budget = v.vramBudgetBytes;
  const bar = h('div', { class: 'meter' }, h('div', { class: 'fill' }));
  bar.firstChild.style.width = `${Math.min(100, (100 * v.vramUsedBytes) / Math.max(1, budget))}%`;
  const loaded = new Set(v.loadedModels);
  $('vram').replaceChildren(
    h('p', {}, `${fmtBytes(v.vramUsedBytes)} of ${fmtBytes(budget)} in use`),
    bar,
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, h('th', {}, 'model'), h('th', {}, 'kind'), h('th', {}, 'size'), h('th', {}, ''))),
      h(
        'tbody',
        {},
        v.models.map((m) =>
          h('tr', {}, h('td', {}, m.model), h('td', {}, m.kind), h('td', {}, fmtBytes(m.vramBytes)), h('td', { class: loaded.has(m.model) ? 'ok' : 'muted' }, loaded.has(m.model) ? 'loaded' : 'not loaded')),
        ),
      ),
    ),
    h('p', { class: 'muted' }, `${v.steps} steps run, ${v.swaps} model swaps.`),
    ...cacheLines(v.runnerCounters ?? {}),
    ...draftLines(v.runnerCounters ?? {}),
  );
}

/** Speculative decoding of each model with a draft model: drafted tokens accepted and rejected. */
function draftLines(counters) {
  return Object.entries(counters)
    .filter(([, c]) => c.draft)
    .map(([model, { draft: d }]) => {
      const drafted = d.accepted + d.rejected;
      const rate = drafted > 0 ? `${Math.round((100 * d.accepted) / drafted)}% accepted` : 'none checked yet';
      return h('p', { class: 'muted', 'data-draft': model }, `${model} draft model: ${d.accepted} of ${drafted} drafted tokens accepted, ${d.rejected} rejected (${rate}).`);
    });
}

/** The chat conversation cache of each model that keeps one: hits, misses, and prompt tokens reused. */
function cacheLines(counters) {
  return Object.entries(counters)
    .filter(([, c]) => c.conversationCache)
    .map(([model, { conversationCache: c }]) => {
      const prompt = c.evaluatedTokens + c.reusedTokens;
      const share = prompt > 0 ? ` (${Math.round((100 * c.reusedTokens) / prompt)}%)` : '';
      return h(
        'p',
        { class: 'muted', 'data-cache': model },
        `${model} conversation cache: ${c.hits} hits, ${c.misses} misses, ${c.evictions} evictions; ` +
          `${c.reusedTokens} of ${prompt} prompt tokens reused${share}, ${c.evaluatedTokens} evaluated.`,
      );
    });
}

function renderQueue(v) {
  if (v.queue.length === 0) return $('queue').replaceChildren(empty('Nobody is waiting.'));
  const byUser = new Map();
  for (const q of v.queue) {
    if (!byUser.has(q.userId)) byUser.set(q.userId, []);
    byUser.get(q.userId).push(q);
  }
  $('queue').replaceChildren(
    ...[...byUser].map(([userId, jobs]) =>
      h(
        'div',
        { class: 'user-queue', dataset: { user: userId } },
        h('h3', {}, userLabel(userId, you), h('span', { class: 'muted' }, ` — ${jobs.length} waiting`)),
        h(
          'table',
          {},
          h('thead', {}, h('tr', {}, h('th', {}, 'position'), h('th', {}, 'kind'), h('th', {}, 'starts in'), h('th', {}, ''))),
          h(
            'tbody',
            {},
            jobs.map((q) =>
              h('tr', { dataset: { jobId: q.jobId } }, h('td', {}, `#${q.position + 1}`), h('td', {}, q.kind), h('td', {}, fmtSeconds(q.etaSeconds)), h('td', {}, cancelButton(q.jobId))),
            ),
          ),
        ),
      ),
    ),
  );
}

const HOUR = 3_600_000;
const HOURS = 24;
/** One colour per user, most used first; the rest share grey. */
const COLORS = ['#c2521b', '#2f6f9f', '#3f8f5a', '#8a5cc2', '#c29a1b', '#b83f73', '#4a9aa8'];
const OTHERS = { key: 'others', color: '#b9b2aa' };

function svgEl(parent, name, attrs, text) {
  const n = document.createElementNS(SVG, name);
  for (const [k, val] of Object.entries(attrs)) n.setAttribute(k, String(val));
  if (text !== undefined) n.textContent = text;
  parent.append(n);
  return n;
}

function total(seconds) {
  return seconds > 0 ? fmtSeconds(seconds) : '–';
}

function hourLabel(t) {
  const d = new Date(t);
  // Whole hours read best as "6 AM" or "18"; a time zone off the hour needs the minutes.
  return d.toLocaleTimeString([], d.getMinutes() === 0 ? { hour: 'numeric' } : { hour: 'numeric', minute: '2-digit' });
}

/** A round scale top above `max` seconds (1, 2 or 5 times a power of ten). */
function niceMax(max) {
  const p = 10 ** Math.floor(Math.log10(Math.max(max, 1e-3)));
  return [1, 2, 5, 10].map((m) => m * p).find((n) => n >= max) ?? 10 * p;
}

/**
 * GPU-seconds per hour over the last 24 hours, stacked by user, and each user's totals (today, the
 * last hour, the 24 hours) beside their colour.
 */
function renderUsage(v) {
  const totals = new Map();
  const entry = (id) => {
    if (!totals.has(id)) totals.set(id, { today: 0, hour: 0, day: 0 });
    return totals.get(id);
  };
  for (const u of v.usageToday) entry(u.userId).today = u.seconds;
  for (const u of v.usageLastHour) entry(u.userId).hour = u.seconds;
  const last = Math.floor(v.now / HOUR) * HOUR;
  const first = last - (HOURS - 1) * HOUR;
  const buckets = v.usageBuckets.filter((b) => b.bucketStart >= first && b.bucketStart <= last);
  for (const b of buckets) entry(b.userId).day += b.seconds;
  if (totals.size === 0) return $('usage').replaceChildren(empty('No GPU time used in the last 24 hours.'));

  const users = [...totals].sort((a, b) => b[1].day - a[1].day || b[1].today - a[1].today || (a[0] < b[0] ? -1 : 1));
  const series = new Map(users.slice(0, COLORS.length).map(([id], i) => [id, { key: id, color: COLORS[i] }]));
  const seriesOf = (id) => series.get(id) ?? OTHERS;

  // stacks[i]: the seconds of each series in hour i, in the order of the legend.
  const stacks = Array.from({ length: HOURS }, () => new Map());
  for (const b of buckets) {
    const stack = stacks[(b.bucketStart - first) / HOUR];
    const s = seriesOf(b.userId);
    stack.set(s, (stack.get(s) ?? 0) + b.seconds);
  }
  const top = niceMax(Math.max(...stacks.map((st) => [...st.values()].reduce((a, x) => a + x, 0)), 1e-3));

  const left = 52;
  const plotW = 500;
  const plotH = 120;
  const y0 = 10;
  const colW = plotW / HOURS;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${left + plotW + 8} ${y0 + plotH + 24}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'GPU-seconds per hour over the last 24 hours, stacked by user');
  svg.classList.add('chart', 'hours');
  svgEl(svg, 'rect', { x: left + (HOURS - 1) * colW, y: y0, width: colW, height: plotH, class: 'now' });
  for (const f of [0, 0.5, 1]) {
    const y = y0 + plotH * (1 - f);
    svgEl(svg, 'line', { x1: left, x2: left + plotW, y1: y, y2: y, class: f === 0 ? 'axis' : 'grid' });
    svgEl(svg, 'text', { x: left - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, f === 0 ? '0' : fmtSeconds(top * f));
  }
  const order = [...series.values(), OTHERS];
  stacks.forEach((stack, i) => {
    const hour = first + i * HOUR;
    let y = y0 + plotH;
    for (const s of order) {
      const seconds = stack.get(s);
      if (!seconds) continue;
      const hgt = Math.max(1, (plotH * seconds) / top);
      y -= hgt;
      const who = s === OTHERS ? 'others' : userLabel(s.key, you);
      const rect = svgEl(svg, 'rect', { x: left + i * colW + 2, y, width: colW - 4, height: hgt, fill: s.color, class: 'bucket', 'data-user': s.key, 'data-hour': hour, 'data-seconds': seconds });
      svgEl(rect, 'title', {}, `${who}, ${hourLabel(hour)}–${hourLabel(hour + HOUR)}: ${fmtSeconds(seconds)}`);
    }
    if (i % 6 === 0 || i === HOURS - 1) {
      svgEl(svg, 'text', { x: left + i * colW + colW / 2, y: y0 + plotH + 16, class: 'tick', 'text-anchor': 'middle' }, i === HOURS - 1 ? 'now' : hourLabel(hour));
    }
  });

  const swatch = (color) => {
    const el = h('span', { class: 'swatch' });
    el.style.background = color;
    return el;
  };
  const rows = users.slice(0, 12).map(([id, e]) =>
    h(
      'tr',
      { dataset: { user: id } },
      h('td', {}, swatch(seriesOf(id).color), ' ', userLabel(id, you)),
      h('td', { class: 'num today' }, total(e.today)),
      h('td', { class: 'num hour' }, total(e.hour)),
      h('td', { class: 'num day' }, total(e.day)),
    ),
  );
  if (users.length > 12) rows.push(h('tr', {}, h('td', { class: 'muted', colspan: 4 }, `and ${users.length - 12} more`)));
  $('usage').replaceChildren(
    svg,
    h(
      'table',
      { class: 'usage-totals' },
      h('thead', {}, h('tr', {}, h('th', {}, 'user'), h('th', { class: 'num' }, 'today (UTC)'), h('th', { class: 'num' }, 'last hour'), h('th', { class: 'num' }, '24 h'))),
      h('tbody', {}, rows),
    ),
  );
}

function renderRecent(v) {
  if (v.recent.length === 0) return $('recent').replaceChildren(empty('No job has ended yet.'));
  $('recent').replaceChildren(
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, ['finished', 'user', 'kind', 'outcome', 'waited', 'ran', 'GPU'].map((t) => h('th', {}, t)))),
      h(
        'tbody',
        {},
        v.recent.slice(0, 15).map((j) => {
          const waited = j.startedAt ? (j.startedAt - j.createdAt) / 1000 : NaN;
          const ran = j.startedAt && j.finishedAt ? (j.finishedAt - j.startedAt) / 1000 : NaN;
          return h(
            'tr',
            { dataset: { jobId: j.jobId, state: j.state } },
            h('td', {}, j.finishedAt ? new Date(j.finishedAt).toLocaleTimeString() : '–'),
            h('td', {}, userLabel(j.userId, you)),
            h('td', {}, j.kind),
            h('td', { class: j.state === 'done' ? 'ok' : 'bad' }, j.error ? `${j.state} (${j.error})` : j.state),
            h('td', {}, fmtSeconds(waited)),
            h('td', {}, fmtSeconds(ran)),
            h('td', {}, fmtSeconds(j.usedSeconds)),
          );
        }),
      ),
    ),
  );
}

/** Each panel is rebuilt only when what it shows changed, so buttons stay put between updates. */
const shown = new Map();
function panel(name, data, draw) {
  const key = JSON.stringify([you, data]);
  if (shown.get(name) === key) return;
  shown.set(name, key);
  draw();
}

function render(v) {
  last = v;
  const users = new Set([...v.queue.map((q) => q.userId), ...v.running.map((r) => r.userId)]);
  $('summary').textContent = `${v.running.length} running, ${v.queue.length} waiting, ${users.size} ${users.size === 1 ? 'person' : 'people'}`;
  panel('gpu', [v.running, v.current], () => renderGpu(v));
  panel('telemetry', v.gpu, () => renderTelemetry(v.gpu));
  panel('workers', v.workers ?? null, () => renderWorkers(v.workers));
  panel('vram', [v.vramUsedBytes, v.vramBudgetBytes, v.loadedModels, v.models, v.steps, v.swaps, v.runnerCounters], () => renderVram(v));
  panel('queue', v.queue, () => renderQueue(v));
  panel('usage', [v.usageToday, v.usageLastHour, v.usageBuckets, Math.floor(v.now / HOUR)], () => renderUsage(v));
  panel('recent', v.recent, () => renderRecent(v));
}

getJson('/api/info').then((res) => {
  if (!res.ok) return;
  you = res.data.userId;
  if (last) render(last);
});
connect('/api/dashboard/events', (msg) => {
  if (msg.type === 'status') render(msg.view);
});
