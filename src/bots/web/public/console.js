/* global document, window, crypto */
// The console: one card per message (its ref), filled by the job events of this browser session.
import { connect, getJson, h, post } from './common.js';
import { showFirstRun } from './first-run.js';

const $ = (id) => document.getElementById(id);
const log = $('log');
const promptEl = $('prompt');
const fileEl = $('file');
const hint = $('hint');
const cards = new Map();
let info = null;
let mode = 'ask';
let attachment = null;

const PLACEHOLDER = {
  ask: 'Ask anything…',
  imagine: 'Describe the image you want…',
  caption: 'Optional: a question about the image',
};

// ---------------------------------------------------------------------------------------------
// Following the conversation: stay at the bottom while the reader is there, not once they scroll up.

let following = true;
window.addEventListener('scroll', () => {
  following = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 80;
});
function follow() {
  if (following) window.scrollTo({ top: document.documentElement.scrollHeight });
}

// ---------------------------------------------------------------------------------------------
// Cards

function ensureCard(ref, kind, prompt, thumb) {
  let card = cards.get(ref);
  if (card) return card;
  const user = h('div', { class: 'bubble user' }, thumb ? h('img', { class: 'thumb', src: thumb, alt: 'your image' }) : null, h('p', { class: 'prompt' }, prompt));
  const status = h('p', { class: 'status' });
  const note = h('p', { class: 'note', hidden: true });
  const text = h('div', { class: 'text' });
  const progress = kind === 'image' ? h('progress', { max: 1, value: 0 }) : null;
  const preview = kind === 'image' ? h('img', { class: 'preview', alt: 'preview', hidden: true }) : null;
  const image = kind === 'image' ? h('img', { class: 'result', alt: prompt, hidden: true, onload: follow }) : null;
  const sources = h('p', { class: 'sources', hidden: true });
  const actions = h('div', { class: 'actions' });
  const reply = h('div', { class: `bubble reply ${kind}` }, status, note, progress, preview, image, text, sources, actions);
  const el = h('article', { class: 'card', dataset: { ref, kind } }, user, reply);
  log.append(el);
  card = { ref, kind, el, user, status, note, text, progress, preview, image, sources, actions, view: null };
  cards.set(ref, card);
  follow();
  return card;
}

/** Shows the card's view: the server decides its state and words once for every face; this only draws it. */
function render(card) {
  const v = card.view;
  if (!v) return;
  card.el.dataset.state = v.state;
  card.el.dataset.jobId = v.jobId;
  if (v.note) {
    card.note.hidden = false;
    card.note.textContent = `The image, as the captioner sees it: ${v.note}`;
  }
  card.status.textContent = v.status;
  card.status.classList.toggle('error', v.state === 'failed' || v.state === 'cancelled');
  if (v.kind !== 'image') {
    card.text.textContent = v.text;
    showSources(card.sources, v.sources);
  } else {
    if (v.of) {
      card.progress.max = v.of;
      card.progress.value = v.step ?? 0;
    }
    card.progress.hidden = v.state === 'done' || v.state === 'failed' || v.state === 'cancelled';
    if (v.previewUrl && !v.image) {
      card.preview.src = v.previewUrl;
      card.preview.hidden = false;
    }
    if (v.image) {
      card.preview.hidden = true;
      card.image.src = v.image.url;
      card.image.width = Math.min(v.image.width, 512);
      card.image.hidden = false;
    }
  }
  card.actions.replaceChildren();
  if (v.state === 'queued' || v.state === 'running') {
    card.actions.append(h('button', { type: 'button', class: 'quiet cancel', onclick: () => cancel(v.jobId) }, 'Cancel'));
  }
  if (v.kind === 'image' && v.state === 'done') {
    card.actions.append(h('button', { type: 'button', class: 'quiet reroll', onclick: () => reroll(v.jobId, v.prompt) }, 'Reroll'));
    // The Vary buttons the server offers (their labels and strengths come from /api/info).
    for (const variation of info?.limits.image.variations ?? []) {
      card.actions.append(h('button', { type: 'button', class: 'quiet vary', dataset: { variation: variation.id }, onclick: () => vary(v.jobId, v.prompt, variation) }, variation.label));
    }
    card.actions.append(h('a', { href: v.image.url, download: `hearth-${v.jobId}.png` }, 'Download'));
  }
}

/**
 * The workspace messages an answer was given, as the server numbered and labelled them: links that
 * open in a new tab and tell the message's site nothing of the console (labels are text, never HTML).
 */
function showSources(el, sources) {
  const list = Array.isArray(sources) ? sources : [];
  el.hidden = list.length === 0;
  const items = list.flatMap((s, i) => {
    const link = typeof s.url === 'string' && /^https?:\/\//i.test(s.url)
      ? h('a', { href: s.url, target: '_blank', rel: 'noopener noreferrer' }, s.label)
      : h('span', {}, s.label);
    return i === 0 ? [link] : [' · ', link];
  });
  el.replaceChildren(...(items.length > 0 ? ['Sources: ', ...items] : []));
}

function onMessage(msg) {
  if (msg.type === 'hello') {
    for (const v of msg.jobs) update(v);
    return;
  }
  if (msg.type === 'update') return update(msg.job);
  if (msg.type === 'token') {
    const card = cards.get(msg.ref);
    const v = card?.view;
    if (!card || !v || v.jobId !== msg.jobId) return;
    v.text += msg.text;
    if (v.state !== 'running') {
      v.state = 'running';
      render(card);
    }
    card.status.textContent = '';
    card.text.append(msg.text);
    follow();
  }
}

function update(v) {
  const card = ensureCard(v.ref, v.kind, v.prompt);
  card.view = v;
  render(card);
  follow();
}

// ---------------------------------------------------------------------------------------------
// Commands

function newRef() {
  return `r${crypto.getRandomValues(new Uint32Array(2)).join('')}`.slice(0, 24);
}

function notice(text, cls = '') {
  const p = h('p', { class: `notice ${cls}` }, text);
  log.append(p);
  follow();
}

function failCard(card, error) {
  card.el.dataset.state = 'failed';
  card.status.textContent = error.message;
  card.status.classList.add('error');
}

async function upload(file) {
  if (info && file.size > info.maxUploadBytes) {
    return { ok: false, error: { code: 'IMAGE_TOO_LARGE', message: `The image is ${file.size} bytes; the limit is ${info.maxUploadBytes}.` } };
  }
  return post('/api/uploads', file);
}

async function send(kind, prompt) {
  const ref = newRef();
  const file = attachment;
  const thumb = file ? URL.createObjectURL(file) : null;
  const card = ensureCard(ref, kind === 'imagine' ? 'image' : kind === 'caption' ? 'caption' : 'chat', prompt || (kind === 'caption' ? 'Describe this image.' : ''), thumb);
  card.status.textContent = 'Sending…';
  setAttachment(null);
  let uploadId;
  if (file) {
    const up = await upload(file);
    if (!up.ok) return failCard(card, up.error);
    uploadId = up.data.uploadId;
  }
  let res;
  if (kind === 'ask') res = await post('/api/ask', { ref, prompt, uploadId, ...askOptions() });
  else if (kind === 'caption') res = await post('/api/caption', { ref, question: prompt, uploadId, detail: $('opt-detail').value });
  else res = await post('/api/imagine', { ref, prompt, uploadId, ...imageOptions(!!file) });
  if (!res.ok) failCard(card, res.error);
  else if (!card.view) card.status.textContent = 'Queued…';
}

/** The form's image options; the strength only goes with an image to start from. */
function imageOptions(withImage) {
  const num = (id) => ($(id).value === '' ? undefined : Number($(id).value));
  return {
    strength: withImage ? num('opt-strength') : undefined,
    width: num('opt-width'),
    height: num('opt-height'),
    steps: num('opt-steps'),
    guidance: num('opt-guidance'),
    seed: num('opt-seed'),
    scheduler: $('opt-scheduler').value || undefined,
    negativePrompt: $('opt-negative').value || undefined,
  };
}

async function cancel(jobId) {
  const res = await post('/api/cancel', { jobId });
  if (!res.ok) notice(res.error.message, 'error');
}

async function reroll(jobId, prompt) {
  const ref = newRef();
  const card = ensureCard(ref, 'image', `${prompt} (reroll)`);
  const res = await post('/api/reroll', { ref, jobId });
  if (!res.ok) failCard(card, res.error);
}

async function vary(jobId, prompt, variation) {
  const ref = newRef();
  const card = ensureCard(ref, 'image', `${prompt} (${variation.label})`);
  const res = await post('/api/vary', { ref, jobId, variation: variation.id });
  if (!res.ok) failCard(card, res.error);
}

async function forget() {
  const res = await post('/api/forget', {});
  if (res.ok) notice(res.data.turns > 0 ? `Forgot this conversation (${res.data.turns} messages).` : 'There was nothing to forget.');
  else notice(res.error.message, 'error');
}

async function showQueue() {
  const res = await getJson('/api/queue');
  if (!res.ok) return notice(res.error.message, 'error');
  const q = res.data;
  const mine = q.mine.map((j) => `${j.kind}: ${j.text}`).join('; ');
  notice(`${mine || 'You have no jobs waiting or running.'} (${q.queued} waiting in all, ${q.running.length} running, ${q.users} people.)`);
}

const HELP = 'Commands: /ask <question>, /imagine <description>, /caption [question] (with an image attached), /forget, /cancel, /queue. Or pick a tab and type.';

async function submit(e) {
  e.preventDefault();
  const raw = promptEl.value.trim();
  const m = /^\/(\w+)\s*([\s\S]*)$/.exec(raw);
  let kind = mode;
  let prompt = raw;
  if (m) {
    const [, cmd, rest] = m;
    promptEl.value = '';
    if (cmd === 'forget') return forget();
    if (cmd === 'cancel') return cancel(rest.trim() || undefined);
    if (cmd === 'queue') return showQueue();
    if (cmd === 'help') return notice(HELP);
    if (cmd !== 'ask' && cmd !== 'imagine' && cmd !== 'caption') return notice(`There is no /${cmd}. ${HELP}`, 'error');
    kind = cmd;
    prompt = rest.trim();
  }
  if (kind === 'caption' && !attachment) return (hint.textContent = 'Attach an image to describe first.');
  if (kind !== 'caption' && prompt === '') return (hint.textContent = 'Type something first.');
  hint.textContent = '';
  promptEl.value = '';
  await send(kind, prompt);
}

function setMode(next) {
  mode = next;
  for (const b of document.querySelectorAll('[data-mode]')) b.setAttribute('aria-selected', String(b.dataset.mode === mode));
  $('image-options').hidden = mode !== 'imagine';
  $('caption-options').hidden = mode !== 'caption';
  $('ask-options').hidden = mode !== 'ask' || adapterNames().length === 0;
  promptEl.placeholder = PLACEHOLDER[mode];
  hint.textContent = '';
}

function setAttachment(file) {
  attachment = file;
  const box = $('attachment');
  box.replaceChildren();
  box.hidden = !file;
  fileEl.value = '';
  if (!file) return;
  box.append(
    h('img', { src: URL.createObjectURL(file), alt: file.name }),
    h('button', { type: 'button', class: 'quiet', title: 'Remove the image', onclick: () => setAttachment(null) }, '×'),
  );
}

/** The LoRA adapters /ask may name (none: no adapter select). */
function adapterNames() {
  return info?.limits?.adapters ?? [];
}

/** The chosen adapter, sent by name to the same ask command as the other platforms use. */
function askOptions() {
  const adapter = $('opt-adapter').value;
  return adapterNames().length > 0 && adapter !== '' ? { adapter } : {};
}

function applyInfo() {
  const names = adapterNames();
  // "Default" leaves the choice to the command (the channel's adapter, else none).
  $('opt-adapter').replaceChildren(h('option', { value: '' }, 'default'), ...names.map((a) => h('option', { value: a }, a)));
  $('ask-options').hidden = mode !== 'ask' || names.length === 0;
  const lim = info.limits.image;
  const d = info.imageDefaults;
  for (const id of ['opt-width', 'opt-height']) {
    $(id).min = lim.minSize;
    $(id).max = lim.maxSize;
  }
  $('opt-steps').max = lim.maxSteps;
  if (d) {
    $('opt-width').value = d.width;
    $('opt-height').value = d.height;
    $('opt-steps').value = d.steps;
    $('opt-guidance').value = d.guidance;
  }
  const def = d ?? lim.defaults;
  const samplerName = (s) => (s.id === def.scheduler ? `${s.label} (default)` : s.label);
  $('opt-scheduler').replaceChildren(...lim.samplers.map((s) => h('option', { value: s.id, selected: def.scheduler === s.id }, samplerName(s))));
  $('opt-strength').min = lim.minStrength;
  $('opt-strength').max = lim.maxStrength;
  $('opt-strength').placeholder = `with an image: ${lim.defaultStrength}`;
  // A model whose export has no vae_encoder cannot start from an image: no strength to choose.
  $('opt-strength').closest('label').hidden = lim.fromImage === false;
  // The model's limits where the options are chosen (the server's, from the config: nothing here is fixed).
  $('image-limits').title = info.imageSummary ?? '';
  $('image-limits').textContent =
    `Sizes ${lim.minSize}–${lim.maxSize} px in steps of ${lim.sizeMultiple} (default ${def.width}×${def.height}) · steps 1–${lim.maxSteps} (default ${def.steps}) · ` +
    `guidance ${lim.minGuidance}–${lim.maxGuidance} · samplers: ${lim.samplers.filter((s) => s.id !== 'default').map((s) => s.label).join(', ')} · ` +
    (lim.fromImage === false
      ? 'this model cannot start from an image (its export has no vae_encoder).'
      : `attach an image to start from it (strength ${lim.minStrength}–${lim.maxStrength}: how much to change it).`);
  const off = Object.entries(info.available).filter(([, on]) => !on).map(([k]) => k);
  if (off.length > 0) showFirstRun(log, off);
}

for (const b of document.querySelectorAll('[data-mode]')) b.addEventListener('click', () => setMode(b.dataset.mode));
$('composer').addEventListener('submit', submit);
$('forget').addEventListener('click', forget);
fileEl.addEventListener('change', () => setAttachment(fileEl.files[0] ?? null));
promptEl.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
});

getJson('/api/info').then((res) => {
  if (!res.ok) return notice(res.error.message, 'error');
  info = res.data;
  applyInfo();
});
connect('/api/events', onMessage);
