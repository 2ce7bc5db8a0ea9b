/* global setTimeout */
// The first run: what is not set up, the recommended models with their sizes (asked of the hub first),
// then a download with a live progress bar per model (polling GET /api/setup).
import { getJson, h, post } from './common.js';

const size = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`);

/** Shows the first-run section at the top of the log for the commands in `off`. */
export async function showFirstRun(log, off) {
  const list = h('ul', { class: 'first-run-models' });
  const line = h('p', { class: 'muted' });
  const button = h('button', { type: 'button', class: 'primary', id: 'first-run-go' }, 'Check the sizes');
  const el = h(
    'section',
    { class: 'notice first-run', id: 'first-run' },
    h('p', {}, `Not set up on this hearth yet: ${off.map((k) => `/${k}`).join(', ')} (no model configured).`),
    h('p', {}, 'hearth can download the recommended models for you, and use them from the next start with no config:'),
    list,
    line,
    button,
  );
  log.prepend(el);

  const draw = (s) => {
    el.dataset.state = s.state;
    list.replaceChildren(
      ...s.offered.map((m) =>
        h(
          'li',
          { dataset: { kind: m.kind } },
          h('strong', {}, m.bytes ? size(m.bytes) : `about ${size(m.approxBytes)}`),
          ` ${m.kind}: ${m.name}${m.gpuOnly ? ' (where the GPU has room)' : ''} `,
          s.state === 'downloading' || s.state === 'done' || (s.state === 'failed' && m.done > 0)
            ? h('progress', { max: m.bytes, value: m.done, title: `${size(m.done)} of ${size(m.bytes)}` })
            : null,
        ),
      ),
      ...s.skipped.map((m) => h('li', { class: 'muted', dataset: { kind: m.kind } }, `${m.kind}: skipped — ${m.why}`)),
    );
    const words = {
      idle: `From ${s.hub}.`,
      planning: `Asking ${s.hub} for the sizes…`,
      offered: `${size(s.bytes)} in all, from ${s.hub}.`,
      downloading: `Downloading from ${s.hub}…`,
      done: 'Done. Restart hearth (stop it, then `npm start`) to use them.',
      failed: s.error ?? 'The download stopped.',
    };
    line.textContent = words[s.state];
    line.classList.toggle('error', s.state === 'failed');
    button.hidden = s.state === 'planning' || s.state === 'downloading' || s.state === 'done';
    button.textContent = s.state === 'offered' ? `Download (${size(s.bytes)})` : s.state === 'failed' ? 'Try again' : 'Check the sizes';
  };

  const poll = async () => {
    const res = await getJson('/api/setup');
    if (!res.ok) return;
    draw(res.data);
    if (res.data.state === 'planning' || res.data.state === 'downloading') setTimeout(poll, 500);
  };

  button.addEventListener('click', async () => {
    const offered = el.dataset.state === 'offered' || (el.dataset.state === 'failed' && list.querySelector('progress'));
    const res = await post(offered ? '/api/setup/pull' : '/api/setup/plan', {});
    if (res.ok) draw(res.data);
    poll();
  });
  await poll();
}
