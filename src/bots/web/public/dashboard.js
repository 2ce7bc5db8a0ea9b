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
  );
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

/** Two bars per user, today and the last hour, on one scale. */
function renderUsage(v) {
  const users = new Map();
  for (const u of v.usageToday) users.set(u.userId, { today: u.seconds, hour: 0 });
  for (const u of v.usageLastHour) {
    const e = users.get(u.userId) ?? { today: u.seconds, hour: 0 };
    e.hour = u.seconds;
    users.set(u.userId, e);
  }
  if (users.size === 0) return $('usage').replaceChildren(empty('No GPU time used today.'));
  const rows = [...users].sort((a, b) => b[1].today - a[1].today).slice(0, 12);
  const max = Math.max(...rows.map(([, e]) => e.today), 1e-9);
  const rowH = 34;
  const labelW = 150;
  const barW = 260;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${labelW + barW + 80} ${rows.length * rowH + 8}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'GPU-seconds per user, today and in the last hour');
  svg.classList.add('chart');
  const el = (name, attrs, text) => {
    const n = document.createElementNS(SVG, name);
    for (const [k, val] of Object.entries(attrs)) n.setAttribute(k, String(val));
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  rows.forEach(([userId, e], i) => {
    const y = i * rowH + 4;
    el('text', { x: 0, y: y + 17, class: 'label' }, userLabel(userId, you));
    el('rect', { x: labelW, y, width: Math.max(1, (barW * e.today) / max), height: 13, class: 'today' });
    el('rect', { x: labelW, y: y + 15, width: Math.max(e.hour > 0 ? 1 : 0, (barW * e.hour) / max), height: 13, class: 'hour' });
    el('text', { x: labelW + barW + 6, y: y + 11, class: 'value' }, `${e.today.toFixed(1)} s`);
    el('text', { x: labelW + barW + 6, y: y + 26, class: 'value muted' }, `${e.hour.toFixed(1)} s`);
  });
  $('usage').replaceChildren(
    h('p', { class: 'legend' }, h('span', { class: 'swatch today' }), ' today (UTC) ', h('span', { class: 'swatch hour' }), ' last hour'),
    svg,
  );
}

function renderRecent(v) {
  if (v.recent.length === 0) return $('recent').replaceChildren(empty('No job has finished since hearth started.'));
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
  panel('vram', [v.vramUsedBytes, v.vramBudgetBytes, v.loadedModels, v.models, v.steps, v.swaps], () => renderVram(v));
  panel('queue', v.queue, () => renderQueue(v));
  panel('usage', [v.usageToday, v.usageLastHour], () => renderUsage(v));
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
