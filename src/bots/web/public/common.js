/* global document, fetch, EventSource, Node, Blob */
// Shared by the console and the dashboard. Pages build their DOM with textContent only: nothing a
// user or a model wrote is ever parsed as HTML.

/** Creates an element: h('div', { class: 'x', onclick: fn }, 'text', child). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** POSTs JSON (or a Blob as it is); resolves to { ok, data } or { ok: false, error: { code, message } }. */
export async function post(path, body) {
  const isBlob = body instanceof Blob;
  try {
    const res = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': isBlob ? body.type || 'application/octet-stream' : 'application/json' },
      body: isBlob ? body : JSON.stringify(body ?? {}),
      credentials: 'same-origin',
    });
    return await answer(res);
  } catch {
    return { ok: false, error: { code: 'NETWORK', message: 'The console could not reach hearth. Is it still running?' } };
  }
}

export async function getJson(path) {
  try {
    return await answer(await fetch(path, { credentials: 'same-origin' }));
  } catch {
    return { ok: false, error: { code: 'NETWORK', message: 'The console could not reach hearth. Is it still running?' } };
  }
}

async function answer(res) {
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('application/json')) {
    const data = await res.json();
    return res.ok ? { ok: true, data } : { ok: false, error: data.error ?? { code: 'UNKNOWN', message: `hearth answered ${res.status}` } };
  }
  const text = await res.text();
  return res.ok ? { ok: true, data: text } : { ok: false, error: { code: String(res.status), message: text || `hearth answered ${res.status}` } };
}

/**
 * Opens a server-sent event stream and shows its state in #conn. EventSource reconnects by itself
 * (the server asks for 2 s); each (re)connect starts with a full greeting, so nothing is missed.
 */
export function connect(path, onMessage) {
  const conn = document.getElementById('conn');
  const es = new EventSource(path);
  const show = (state, text) => {
    if (!conn) return;
    conn.dataset.state = state;
    conn.textContent = text;
  };
  show('connecting', 'connecting…');
  es.onopen = () => show('live', 'live');
  es.onerror = () => show('down', 'reconnecting…');
  es.onmessage = (e) => onMessage(JSON.parse(e.data));
  return es;
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '?';
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}

export function fmtSeconds(s) {
  if (!Number.isFinite(s)) return '–';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** "console" for everyone at the console, "console: ada" for someone signed in there, the platform id otherwise. */
export function userLabel(userId, you) {
  const base = userId === 'web:console' ? 'console' : userId.startsWith('web:') ? `console: ${userId.slice(4)}` : userId;
  return userId === you ? `${base} (you)` : base;
}
