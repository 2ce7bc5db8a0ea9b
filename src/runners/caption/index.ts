/** The caption runner's entry points for the GPU worker. */
import type { Runner } from '../../engine/runner.js';
import type { Json } from '../../engine/types.js';
import { CaptionRunner, type CaptionRunnerOptions } from './caption-runner.js';

export { CaptionRunner, type CaptionRunnerOptions, type CaptionLog } from './caption-runner.js';
export { parseCaptionSettings, CAPTION_DEFAULTS, type CaptionSettings } from './settings.js';
export { inspectCaptionFolder, SUPPORTED_MODEL_TYPES, type CaptionFamily, type CaptionFolder } from './model-folder.js';
export type { CaptionPayload } from './payload.js';

/** Builds the caption runner from its settings (throws HearthError INVALID_INPUT naming a bad key). */
export function createCaptionRunner(settings: Json, opts: CaptionRunnerOptions = {}): Runner {
  return new CaptionRunner(settings, opts);
}
