import type { QueueView, StatusView } from '../../commands/hearth-commands.js';
import { etaText, kindWord, queuedText } from '../../commands/wording.js';
import type { ErrorInfo } from '../../engine/types.js';
import { clip } from './render.js';
import { MESSAGE_LIMIT } from './split.js';
import { gpuTelemetryLines } from '../../monitoring/telemetry-text.js';
import { workerLines } from '../../monitoring/cluster-status.js';

const TOP = 10;

export function shortId(jobId: string): string {
  return jobId.slice(0, 8);
}

/** A platform-qualified user id as Discord shows it (a mention for Discord users, never pinging). */
export function who(userId: string): string {
  return userId.startsWith('discord:') ? `<@${userId.slice('discord:'.length)}>` : `\`${userId}\``;
}

/** What a job of this kind makes (shared wording; kept here for the Discord files that import it from text.ts). */
export { kindWord } from '../../commands/wording.js';

/** /queue: the user's jobs with position and ETA, then how busy the GPU is. */
export function queueText(q: QueueView): string {
  const lines: string[] = [];
  if (q.mine.length === 0) lines.push('You have no jobs waiting or running.');
  else {
    lines.push('**Your jobs**');
    for (const j of q.mine) {
      const what = `• ${kindWord(j.kind)} \`${shortId(j.jobId)}\``;
      if (j.state === 'running') lines.push(`${what} — running${j.of ? `, step ${j.step ?? 0} of ${j.of}` : ''}`);
      else lines.push(`${what} — ${queuedText(j.position ?? 0, j.etaSeconds ?? 0)}`);
    }
  }
  lines.push('');
  lines.push(q.queued === 0 ? '**Queue:** empty.' : `**Queue:** ${q.queued} job${q.queued === 1 ? '' : 's'} waiting, from ${q.users} ${q.users === 1 ? 'person' : 'people'}.`);
  lines.push(`**GPU:** ${runningSummary(q.running)}`);
  return clip(lines.join('\n'), MESSAGE_LIMIT);
}

function runningSummary(running: QueueView['running']): string {
  if (running.length === 0) return 'idle.';
  const byKind = new Map<string, number>();
  for (const r of running) byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
  return `working on ${[...byKind].map(([k, n]) => (n === 1 ? `1 ${kindWord(k)}` : `${n} ${kindWord(k)}s`)).join(', ')}.`;
}

/** /hearth status (admins). */
export function statusText(s: StatusView): string {
  const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GB`;
  const lines: string[] = [];
  const models = s.models.map((m) => `${m.model} (${m.kind}${s.loadedModels.includes(m.model) ? ', loaded' : ''})`);
  lines.push(`**Models:** ${models.length > 0 ? models.join(', ') : 'none configured'}`);
  lines.push(`**VRAM:** ${gb(s.vramUsedBytes)} of ${gb(s.vramBudgetBytes)} in use`);
  lines.push(...gpuTelemetryLines(s.gpu).map((l) => `**Telemetry:** ${l}`));
  if (s.workers) lines.push(`**Workers:** ${s.workers.length}`, ...workerLines(s.workers).map((l) => `> ${l}`));
  lines.push(`**GPU:** ${s.current ? `running ${s.current.model} for ${s.current.jobIds.length} job${s.current.jobIds.length === 1 ? '' : 's'}` : 'idle'} · ${s.steps} steps, ${s.swaps} model swaps since start`);
  const byUser = new Map<string, number>();
  for (const q of s.queue) byUser.set(q.userId, (byUser.get(q.userId) ?? 0) + 1);
  const queue = [...byUser].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([u, n]) => `${who(u)} ${n}`);
  lines.push(`**Queue:** ${s.queue.length === 0 ? 'empty' : `${s.queue.length} waiting — ${queue.join(', ')}`}`);
  if (s.running.length > 0) lines.push(`**Running:** ${s.running.map((r) => `${kindWord(r.kind)} for ${who(r.userId)} (step ${r.step} of ${r.of})`).join(', ')}`);
  const today = s.usageToday.slice(0, TOP).map((u) => `${who(u.userId)} ${u.seconds.toFixed(1)} s`);
  lines.push(`**GPU time today:** ${today.length > 0 ? today.join(', ') : 'none yet'}`);
  if (s.queue.length > 0) {
    const last = s.queue[s.queue.length - 1]!;
    lines.push(`The last job in line starts in ${etaText(last.etaSeconds)}.`);
  }
  return clip(lines.join('\n'), MESSAGE_LIMIT);
}

/** An attachment that cannot be an image we accept, worded before anything is downloaded. */
export function attachmentProblem(a: { filename: string; size: number; content_type?: string }, maxBytes: number): ErrorInfo | null {
  if (a.content_type && !a.content_type.startsWith('image/')) {
    return { code: 'IMAGE_INVALID', message: `the file ${a.filename} is ${a.content_type}, not an image; attach a PNG, JPEG, WebP or GIF`, facts: { given: a.content_type, allowed: 'image/*' } };
  }
  if (a.size > maxBytes) {
    const mb = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MB`;
    return { code: 'IMAGE_TOO_LARGE', message: `the image ${a.filename} is ${mb(a.size)}; the limit is ${mb(maxBytes)}`, facts: { given: a.size, allowed: maxBytes } };
  }
  return null;
}
