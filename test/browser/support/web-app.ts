/**
 * A whole hearth with the web console and a simulated GPU, for the console's API and browser tests.
 * Like test/helpers/sim-app.ts, but the image runner also sends a preview after each step (as the
 * real one does with `models.image.previewEvery`), images are drawn (an SVG rendered by sharp) so a
 * screenshot shows something, the chat echoes the whole new turn the model is given (an image's
 * description included), and the models have sizes against a 12 GB budget.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import sharp from 'sharp';
import { HearthApp } from '../../../src/app/hearth-app.js';
import { createWebAdapter, type WebAdapter } from '../../../src/bots/web/index.js';
import { ConsoleKeys, SECRET_FILE } from '../../../src/bots/web/session.js';
import { configSchema } from '../../../src/config/schema.js';
import { InProcessExecutor } from '../../../src/engine/executor/in-process-executor.js';
import type { Runner, RunnerJob, StepOptions, StepOutput } from '../../../src/engine/runner.js';
import type { Json } from '../../../src/engine/types.js';
import { SqliteStore } from '../../../src/engine/store/sqlite-store.js';
import { SimRunner, type SimPayload } from '../../fixtures/sim-runner.js';
import { LogCapture } from '../../helpers/log-capture.js';

export interface WebAppOptions {
  /** Partial config merged over the defaults (validated by the real schema); `web.port` defaults to 0. */
  config?: Record<string, unknown>;
  chatStepMs?: number;
  imageStepMs?: number;
  /** Reuse a data dir (restart tests). */
  dataDir?: string;
}

export interface WebApp {
  app: HearthApp;
  web: WebAdapter;
  dataDir: string;
  /** Everything hearth logged (debug level and up). */
  logs: LogCapture;
  /** Closes the app and the store it was given, deletes the data folder unless told to keep it, and fails if `web.token` was logged. */
  close(opts?: { keepData?: boolean }): Promise<void>;
}

async function drawn(p: SimPayload): Promise<{ png: Uint8Array; width: number; height: number }> {
  const width = p.width ?? 256;
  const height = p.height ?? 256;
  const hue = (p.seed ?? 0) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="hsl(${hue},70%,35%)"/><stop offset="1" stop-color="hsl(${(hue + 40) % 360},90%,70%)"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#sky)"/>
    <circle cx="${width * 0.7}" cy="${height * 0.35}" r="${width * 0.12}" fill="#fff3c4"/>
    <path d="M0 ${height * 0.75} Q ${width * 0.3} ${height * 0.55} ${width * 0.55} ${height * 0.72} T ${width} ${height * 0.68} V ${height} H 0 Z" fill="#1f2a30"/>
  </svg>`;
  const buf = await sharp(Buffer.from(svg)).png().toBuffer();
  return { png: new Uint8Array(buf), width, height };
}

/**
 * What the chat model hears as the new turn: every user message after the last answer (an image's
 * description, then the question), so the simulated chat echoes all of it.
 */
function newTurn(payload: Json): Json {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || !Array.isArray(payload.messages)) return payload;
  const messages = payload.messages as Array<{ role?: Json; content?: Json }>;
  let from = messages.length;
  while (from > 0 && messages[from - 1]?.role === 'user') from--;
  return { ...payload, question: messages.slice(from).map((m) => String(m.content)).join(' ') };
}

/** Wraps a simulated runner: the payload as a test wants it seen, and a preview after every step but the last. */
class WrappedRunner implements Runner {
  readonly #inner: SimRunner;
  readonly #payload: ((p: Json) => Json) | undefined;
  readonly #preview: Uint8Array | undefined;
  readonly model: string;
  readonly kind;
  readonly maxBatch: number;

  constructor(inner: SimRunner, opts: { payload?: (p: Json) => Json; preview?: Uint8Array }) {
    this.#inner = inner;
    this.#payload = opts.payload;
    this.#preview = opts.preview;
    this.model = inner.model;
    this.kind = inner.kind;
    this.maxBatch = inner.maxBatch;
  }

  vramBytes(): Promise<number> {
    return this.#inner.vramBytes();
  }
  load(opts?: { signal?: AbortSignal }): Promise<void> {
    return this.#inner.load(opts);
  }
  unload(): Promise<void> {
    return this.#inner.unload();
  }
  begin(job: RunnerJob): Promise<{ steps: number }> {
    return this.#inner.begin(this.#payload ? { ...job, payload: this.#payload(job.payload) } : job);
  }
  step(jobIds: string[], opts: StepOptions): Promise<StepOutput[]> {
    const preview = this.#preview;
    if (!preview) return this.#inner.step(jobIds, opts);
    return this.#inner.step(jobIds, {
      ...opts,
      emit: (id, event) => {
        opts.emit(id, event);
        if (event.type === 'progress' && event.step < event.of) opts.emit(id, { type: 'preview', png: preview, step: event.step });
      },
    });
  }
  end(jobId: string): Promise<void> {
    return this.#inner.end(jobId);
  }
  dispose(): Promise<void> {
    return this.#inner.dispose();
  }
}

/** The key a browser session's jobs and conversation are filed under (never its cookie's id), from its cookie. */
export function sessionKeyOf(h: { dataDir: string }, cookie: string | undefined): string | undefined {
  return new ConsoleKeys(readFileSync(join(h.dataDir, SECRET_FILE))).sessionKey(cookie);
}

export async function webApp(opts: WebAppOptions = {}): Promise<WebApp> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hearth-web-'));
  const extra = opts.config ?? {};
  const config = configSchema.parse({
    dataDir,
    models: {
      chat: { path: join(dataDir, 'sim.gguf') },
      image: { dir: join(dataDir, 'sim-sd'), defaults: { width: 256, height: 256, steps: 8 } },
      caption: { dir: join(dataDir, 'sim-caption') },
    },
    ...extra,
    web: { port: 0, ...(extra.web as object | undefined) },
  });
  const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    await delay(ms, undefined, signal ? { signal } : {}).catch(() => {});
  };
  const hooks = { sleep, makePng: drawn };
  const preview = new Uint8Array(await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 90, g: 90, b: 120 } } }).png().toBuffer());
  const runners: Runner[] = [
    new WrappedRunner(new SimRunner({ model: 'chat', kind: 'chat', stepMs: opts.chatStepMs ?? 5, maxBatch: 4, vramBytes: 4.6e9 }, hooks), { payload: newTurn }),
    new WrappedRunner(new SimRunner({ model: 'image', kind: 'image', stepMs: opts.imageStepMs ?? 5, vramBytes: 2.6e9 }, hooks), { preview }),
    new SimRunner({ model: 'caption', kind: 'caption', stepMs: 5, vramBytes: 0.9e9 }, hooks),
  ];
  let web: WebAdapter | undefined;
  const logs = new LogCapture();
  const app = new HearthApp({
    config,
    log: logs.log,
    executor: new InProcessExecutor(runners),
    vramBudgetBytes: 12e9,
    adapters: [(ctx) => (web = createWebAdapter(ctx))],
    store: SqliteStore.open(join(dataDir, 'hearth.db')),
  });
  await app.start();
  const close = async (closeOpts: { keepData?: boolean } = {}): Promise<void> => {
    try {
      await app.close();
    } finally {
      app.store.close();
      if (!closeOpts.keepData) rmSync(dataDir, { recursive: true, force: true });
    }
    logs.assertNoSecrets({ 'web.token': config.web.token });
  };
  return { app, web: web!, dataDir, logs, close };
}
