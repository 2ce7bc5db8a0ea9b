import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveVramBudget } from '../app/vram.js';
import type { DefaultKind, LoadedConfig } from '../config/load.js';
import { pullCaptionModel } from '../runners/caption/pull.js';
import { pullEmbeddingModel } from '../runners/embed/pull.js';
import { chatModelsDir, isRemoteModel, pullChatModel, type PullProgress } from '../runners/llm/pull.js';
import { EXIT } from './exit-codes.js';
import { DEFAULT_MODELS, describePlan, gb, modelsDir, notWanted, planDefaults, pullDefaults, type DefaultsProgress } from './defaults.js';
import { hubEndpoint, unreachable } from './hub-download.js';

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Fails fast, in one line, where the hub does not answer at all (node-llama-cpp's downloader retries for minutes). */
async function probe(url: string): Promise<void> {
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
  } catch (e) {
    throw unreachable(new URL(url).origin, e);
  }
}

/** A one-line progress bar on a terminal; a line every 10% when stdout is a file or a pipe. */
function progressPrinter<T = PullProgress>(label: string, map?: (p: T) => PullProgress): (p: T) => void {
  const tty = process.stdout.isTTY === true;
  let lastTenth = -1;
  return (raw) => {
    const { downloadedBytes, totalBytes } = map ? map(raw) : (raw as unknown as PullProgress);
    const pct = totalBytes > 0 ? downloadedBytes / totalBytes : 0;
    const mb = (n: number): string => (n / 2 ** 20).toFixed(1);
    const text = `${label} ${(pct * 100).toFixed(1).padStart(5)}%  ${mb(downloadedBytes)} / ${mb(totalBytes)} MB`;
    if (tty) {
      const width = 30;
      const filled = Math.round(pct * width);
      process.stdout.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`);
    } else if (Math.floor(pct * 10) > lastTenth) {
      lastTenth = Math.floor(pct * 10);
      process.stdout.write(`${text}\n`);
    }
  };
}

/** `hearth models pull`: downloads what the config names as `hf:` URIs, resumably. */
export async function runModelsPull(loaded: LoadedConfig, given: string | undefined, opts: { defaults?: boolean } = {}): Promise<number> {
  const { config } = loaded;
  const endpoint = hubEndpoint(given);
  if (opts.defaults) return runDefaultsPull(loaded, endpoint);
  const chat = config.models.chat;
  let pulled = 0;
  if (chat && isRemoteModel(chat.path)) {
    try {
      await probe(/^https?:\/\//.test(chat.path) ? new URL(chat.path).origin : endpoint);
    } catch (e) {
      process.stderr.write(`hearth: ${message(e)}\n`);
      return EXIT.failure;
    }
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop);
    try {
      const { path } = await pullChatModel({
        uri: chat.path,
        dirPath: chatModelsDir(config.dataDir),
        onProgress: progressPrinter('chat model'),
        signal: controller.signal,
        ...(endpoint ? { endpoint } : {}),
      });
      process.stdout.write(`\nchat model ready: ${path}\n`);
      pulled++;
    } catch (e) {
      process.stderr.write(`\ncould not download the chat model ${chat.path}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.stderr.write(controller.signal.aborted ? 'Stopped; run the same command again to resume.\n' : 'Run the same command again to resume where it stopped.\n');
      return EXIT.failure;
    } finally {
      process.off('SIGINT', stop);
    }
  }
  const caption = config.models.caption;
  if (caption && !existsSync(join(caption.dir, 'config.json'))) {
    try {
      await probe(endpoint);
      const { files } = await pullCaptionModel({
        source: caption.source,
        dir: caption.dir,
        onProgress: progressPrinter('caption model', (p) => ({ downloadedBytes: p.downloadedBytes, totalBytes: p.totalBytes })),
        ...(endpoint ? { endpoint } : {}),
      });
      process.stdout.write(`\ncaption model ready: ${caption.dir} (${files.length} files from ${caption.source})\n`);
      pulled++;
    } catch (e) {
      process.stderr.write(`\ncould not download the caption model ${caption.source}: ${e instanceof Error ? e.message : String(e)}\nRun the same command again to resume.\n`);
      return EXIT.failure;
    }
  }
  const embedding = config.models.embedding;
  if (embedding && !existsSync(join(embedding.dir, 'onnx', 'model.onnx'))) {
    try {
      await probe(endpoint);
      const { files } = await pullEmbeddingModel({
        source: embedding.source,
        dir: embedding.dir,
        onProgress: progressPrinter('embedding model', (p) => ({ downloadedBytes: p.downloadedBytes, totalBytes: p.totalBytes })),
        ...(endpoint ? { endpoint } : {}),
      });
      process.stdout.write(`\nembedding model ready: ${embedding.dir} (${files.length} files from ${embedding.source})\n`);
      pulled++;
    } catch (e) {
      process.stderr.write(`\ncould not download the embedding model ${embedding.source}: ${message(e)}\nRun the same command again to resume.\n`);
      return EXIT.failure;
    }
  }
  const image = config.models.image;
  if (image) process.stdout.write(`image model: uses the local folder ${image.dir} (an ONNX export made with optimum; see README "Models")\n`);
  if (pulled === 0) process.stdout.write('nothing to download: the configured models are local files or already present\n');
  const missing = DEFAULT_MODELS.filter((m) => !config.models[m.kind] && notWanted(m, config) === undefined);
  if (missing.length > 0) {
    process.stdout.write(`Not set up yet: ${missing.map((m) => m.kind).join(', ')}. \`hearth models pull --defaults\` downloads the recommended ones:\n`);
    for (const m of missing) process.stdout.write(`  ${m.kind.padEnd(9)} about ${gb(m.approxBytes)}  ${m.name}${m.gpuOnly ? ' (where the GPU has room)' : ''}\n`);
  }
  return EXIT.ok;
}

/**
 * `hearth models pull --defaults`: the recommended models for what the config does not name, each
 * with its size first, then downloaded with a progress bar and recorded for the next start.
 */
async function runDefaultsPull(loaded: LoadedConfig, endpoint: string): Promise<number> {
  const { config } = loaded;
  const fromRecord = new Set(loaded.defaults ?? []);
  const kinds: DefaultKind[] = [];
  for (const m of DEFAULT_MODELS) {
    const why = notWanted(m, config);
    if (config.models[m.kind] && !fromRecord.has(m.kind)) process.stdout.write(`${m.kind}: configured already (the config names it); not replaced\n`);
    else if (why) process.stdout.write(`${m.kind}: ${why}\n`);
    else kinds.push(m.kind);
  }
  if (kinds.length === 0) return EXIT.ok;
  const controller = new AbortController();
  const stop = (): void => controller.abort(new Error('stopped'));
  process.once('SIGINT', stop);
  try {
    const budget = resolveVramBudget(config.models.vramBudgetMB);
    const plan = await planDefaults({ endpoint, kinds, budget, signal: controller.signal });
    process.stdout.write(`Recommended defaults from ${new URL(endpoint).host} (${gb(plan.bytes)} in all, into ${modelsDir(config.dataDir)}):\n${describePlan(plan).join('\n')}\n`);
    const bars = new Map<DefaultKind, (p: DefaultsProgress) => void>();
    await pullDefaults(plan, {
      dataDir: config.dataDir,
      signal: controller.signal,
      onProgress: (p) => {
        let bar = bars.get(p.kind);
        if (!bar) {
          if (bars.size > 0 && process.stdout.isTTY) process.stdout.write('\n');
          bar = progressPrinter<DefaultsProgress>(p.kind.padEnd(9), (q) => ({ downloadedBytes: q.done, totalBytes: q.bytes }));
          bars.set(p.kind, bar);
        }
        bar(p);
      },
    });
    process.stdout.write(`\nReady: ${plan.offered.map((p) => p.model.kind).join(', ')}. Recorded in ${join(modelsDir(config.dataDir), 'defaults.json')}; the next \`hearth start\` uses them with no config.\n`);
    return EXIT.ok;
  } catch (e) {
    process.stderr.write(`${process.stdout.isTTY ? '\n' : ''}hearth: ${message(e)}\n`);
    if (controller.signal.aborted) process.stderr.write('Stopped; run the same command again to resume.\n');
    return EXIT.failure;
  } finally {
    process.off('SIGINT', stop);
  }
}
