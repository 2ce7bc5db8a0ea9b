/**
 * Downloading chat models (`hearth models pull`) and finding them on disk, through node-llama-cpp's
 * resolver and downloader (resumable; its Hugging Face endpoint is configurable).
 */
import { isAbsolute, join, resolve } from 'node:path';
import { createModelDownloader, resolveModelFile } from 'node-llama-cpp';
import { HearthError } from '../../engine/types.js';

export interface PullProgress {
  downloadedBytes: number;
  totalBytes: number;
}

export interface PullChatModelOptions {
  /** `hf:user/repo/file.gguf`, `hf:user/repo:quant` (or an https URL of a .gguf file). */
  uri: string;
  /** Folder the file goes to (normally `<dataDir>/models`). */
  dirPath: string;
  /** Base URL that replaces `https://huggingface.co/` (a mirror, or a local server in tests). */
  endpoint?: string;
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

const URI_PREFIXES = ['hf:', 'hf://', 'huggingface:', 'huggingface://', 'hf.co/', 'huggingface.co/', 'https://', 'http://'];

/** True for what must be downloaded (an `hf:` URI or a URL) rather than opened as a local path. */
export function isRemoteModel(pathOrUri: string): boolean {
  return URI_PREFIXES.some((prefix) => pathOrUri.startsWith(prefix));
}

/** The folder where downloaded models live. */
export function chatModelsDir(dataDir: string): string {
  return join(dataDir, 'models');
}

/**
 * Downloads the model `uri` into `dirPath` (or finds it there already) and returns its path.
 * An interrupted download keeps its partial file and continues where it stopped on the next pull.
 * Throws HearthError DOWNLOAD_FAILED with the URI and what went wrong.
 */
export async function pullChatModel(options: PullChatModelOptions): Promise<{ path: string }> {
  const { uri, dirPath, endpoint, onProgress, signal } = options;
  if (!isRemoteModel(uri))
    throw new HearthError('INVALID_INPUT', `expected an hf: URI or a URL to pull; got ${JSON.stringify(uri)}`, { uri });
  try {
    // The downloader, not resolveModelFile: resolveModelFile takes any file already at the target
    // name as done, while the downloader checks its size and resumes a partial download.
    const downloader = await createModelDownloader({
      modelUri: uri,
      dirPath,
      showCliProgress: false,
      skipExisting: true,
      // Keep the partial file on cancel so the next pull resumes it.
      deleteTempFileOnCancel: false,
      ...(endpoint ? { endpoints: { huggingFace: endpoint } } : {}),
      ...(onProgress ? { onProgress: ({ downloadedSize, totalSize }) => onProgress({ downloadedBytes: downloadedSize, totalBytes: totalSize }) } : {}),
    });
    let path: string;
    try {
      path = await downloader.download(signal ? { signal } : {});
    } finally {
      // On abort the downloader starts closing without waiting for it; a pull started right after
      // would find the partial file still held. Wait for the close here.
      if (signal?.aborted) await downloader.cancel({ deleteTempFile: false });
    }
    // The downloader returns normally when cancelled; the file is then incomplete.
    if (signal?.aborted) throw signal.reason;
    return { path };
  } catch (error) {
    if (signal?.aborted) throw signal.reason ?? error;
    const found = error instanceof Error ? error.message : String(error);
    throw new HearthError('DOWNLOAD_FAILED', `could not download ${uri}: ${found}`, { uri, dirPath, found });
  }
}

/**
 * Where the chat model's file is. A local path is resolved against the working folder (its
 * existence is checked when the model loads). A remote model must have been pulled into
 * `<dataDir>/models`; if it has not, throws MODEL_MISSING saying so.
 */
export async function resolveChatModelPath(pathOrUri: string, dataDir: string, opts: { endpoint?: string } = {}): Promise<string> {
  if (!isRemoteModel(pathOrUri)) return isAbsolute(pathOrUri) ? pathOrUri : resolve(pathOrUri);
  const dir = chatModelsDir(dataDir);
  try {
    return await resolveModelFile(pathOrUri, {
      directory: dir,
      download: false,
      cli: false,
      ...(opts.endpoint ? { endpoints: { huggingFace: opts.endpoint } } : {}),
    });
  } catch (error) {
    const found = error instanceof Error ? error.message : String(error);
    throw new HearthError('MODEL_MISSING', `${pathOrUri} is not downloaded into ${dir}; run \`hearth models pull\` first`, {
      uri: pathOrUri,
      path: dir,
      found,
    });
  }
}
