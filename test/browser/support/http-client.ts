/**
 * A console user without a browser: keeps the session cookie the console sets, sends JSON commands,
 * and reads the server-sent event streams.
 */
import type { JobView, SessionMessage } from '../../../src/bots/web/job-tracker.js';

export class ConsoleClient {
  readonly base: string;
  readonly headers: Record<string, string>;
  cookies = new Map<string, string>();

  constructor(base: string, headers: Record<string, string> = {}) {
    this.base = base;
    this.headers = headers;
  }

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(this.headers)) if (!headers.has(k)) headers.set(k, v);
    if (this.cookies.size > 0 && !headers.has('cookie')) headers.set('cookie', this.cookieHeader);
    const res = await fetch(new URL(path, this.base), { redirect: 'manual', ...init, headers });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return res;
  }

  async post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await this.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  /** Makes sure the console has given this client a session (the first page load does it in a browser). */
  async visit(): Promise<this> {
    const res = await this.fetch('/');
    await res.arrayBuffer();
    return this;
  }

  async events(path = '/api/events'): Promise<EventStream> {
    const ctrl = new AbortController();
    const res = await this.fetch(path, { signal: ctrl.signal, headers: { accept: 'text/event-stream' } });
    return new EventStream(res, ctrl);
  }
}

/** The data of the events of one stream, as they arrive. */
export class EventStream {
  readonly response: Response;
  readonly messages: unknown[] = [];
  readonly #ctrl: AbortController;
  #waiters: Array<() => void> = [];
  readonly done: Promise<void>;

  constructor(res: Response, ctrl: AbortController) {
    this.response = res;
    this.#ctrl = ctrl;
    this.done = this.#read();
  }

  async #read(): Promise<void> {
    if (!this.response.body) return;
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) this.messages.push(JSON.parse(data));
          for (const w of this.#waiters.splice(0)) w();
        }
      }
    } catch {
      // aborted by close()
    }
  }

  /** Resolves with the first message (already received or to come) that matches. */
  async next<T>(match: (m: unknown) => m is T, timeoutMs?: number): Promise<T>;
  async next(match: (m: unknown) => boolean, timeoutMs?: number): Promise<unknown>;
  async next(match: (m: unknown) => boolean, timeoutMs = 10_000): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.messages).slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The job's last state once it is in `state` (default: any final state). */
  async job(jobId: string, states: readonly string[] = ['done', 'failed', 'cancelled'], timeoutMs = 10_000): Promise<JobView> {
    const m = await this.next(
      (x) => isMessage(x) && x.type === 'update' && x.job.jobId === jobId && states.includes(x.job.state),
      timeoutMs,
    );
    return (m as Extract<SessionMessage, { type: 'update' }>).job;
  }

  /** A card's last state once it has ended (the card of a question with an image changes job on the way). */
  async card(ref: string, timeoutMs = 10_000): Promise<JobView> {
    const m = await this.next(
      (x) => isMessage(x) && x.type === 'update' && x.job.ref === ref && ['done', 'failed', 'cancelled'].includes(x.job.state),
      timeoutMs,
    );
    return (m as Extract<SessionMessage, { type: 'update' }>).job;
  }

  close(): void {
    this.#ctrl.abort();
  }
}

export function isMessage(x: unknown): x is SessionMessage {
  return typeof x === 'object' && x !== null && 'type' in x;
}
