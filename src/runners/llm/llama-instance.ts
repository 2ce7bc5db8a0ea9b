/**
 * Starts llama.cpp (node-llama-cpp's `getLlama`) for the configured GPU backend and thread count.
 */
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import { HearthError } from '../../engine/types.js';

export type ChatGpu = 'auto' | 'cuda' | 'vulkan' | 'cpu';

export interface LlamaInstanceOptions {
  gpu: ChatGpu;
  /** CPU threads for evaluation; 'auto' lets node-llama-cpp pick from the CPU's cores. */
  threads: number | 'auto';
}

/**
 * Creates a Llama for the given backend. Uses only prebuilt binaries (a worker that silently spends
 * minutes compiling llama.cpp helps nobody); a backend that can't start is a RUNNER_FAILED naming it.
 */
export async function createLlama(options: LlamaInstanceOptions): Promise<Llama> {
  try {
    return await getLlama({
      gpu: options.gpu === 'cpu' ? false : options.gpu,
      build: 'never',
      logLevel: LlamaLogLevel.error,
      ...(options.threads === 'auto' ? {} : { maxThreads: options.threads }),
    });
  } catch (error) {
    const found = error instanceof Error ? error.message : String(error);
    throw new HearthError('RUNNER_FAILED', `could not start llama.cpp with gpu "${options.gpu}": ${found}`, {
      gpu: options.gpu,
      found,
    });
  }
}
