import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { pullCaptionModel } from '../runners/caption/pull.js';
import { chatModelsDir, isRemoteModel, pullChatModel, type PullProgress } from '../runners/llm/pull.js';
import { EXIT } from './exit-codes.js';

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
export async function runModelsPull(loaded: LoadedConfig, endpoint: string | undefined): Promise<number> {
  const { config } = loaded;
  const chat = config.models.chat;
  let pulled = 0;
  if (chat && isRemoteModel(chat.path)) {
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
  const image = config.models.image;
  if (image) process.stdout.write(`image model: uses the local folder ${image.dir} (an ONNX export made with optimum; see README "Models")\n`);
  if (pulled === 0) process.stdout.write('nothing to download: the configured models are local files or already present\n');
  return EXIT.ok;
}
