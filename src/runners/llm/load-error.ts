/**
 * What a failed model, context or adapter load is reported as (a code the adapters turn into words).
 */
import { InsufficientMemoryError } from 'node-llama-cpp';
import { HearthError } from '../../engine/types.js';

/** MODEL_TOO_LARGE when `path` did not fit in memory, MODEL_INVALID otherwise; an aborted load's own error as is. */
export function loadError(error: unknown, signal: AbortSignal | undefined, path: string): unknown {
  if (signal?.aborted) return error;
  const found = error instanceof Error ? error.message : String(error);
  if (error instanceof InsufficientMemoryError)
    return new HearthError('MODEL_TOO_LARGE', `${path} does not fit in memory: ${found}`, { path, found });
  return new HearthError('MODEL_INVALID', `${path} could not be loaded: ${found}`, { path, found });
}
