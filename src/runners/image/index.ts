/** The image runner (Stable Diffusion on ONNX Runtime) and what `hearth doctor` asks of it. */
import type { RunnerFactory } from '../../engine/runner.js';
import type { Json } from '../../engine/types.js';
import { ImageRunner, type ImageRunnerOptions } from './image-runner.js';
import { parseImageRunnerSettings } from './settings.js';

export { ImageRunner, guide } from './image-runner.js';
export type { ImageRunnerLogger, ImageRunnerOptions } from './image-runner.js';
export { detectOrtProviders, CUDA_INSTALL_HINT } from './providers.js';
export type { OrtProviderReport } from './providers.js';
export { parseImageRunnerSettings } from './settings.js';
export type { ImageRunnerSettings, ImageProvider, ImageDefaults, ImageLimits } from './settings.js';
export type { ImagePayload } from './request.js';
export { SCHEDULER_NAMES } from './schedulers/index.js';
export type { SchedulerName, SchedulerChoice } from './schedulers/index.js';

/** One image runner from its settings JSON (throws INVALID_INPUT naming a bad key). */
export function createImageRunner(settings: Json, options: ImageRunnerOptions = {}): ImageRunner {
  return new ImageRunner(parseImageRunnerSettings(settings), options);
}

/** A RunnerFactory for the GPU worker: `settings` is the image runner's settings object. */
const factory: RunnerFactory = (settings) => [createImageRunner(settings)];
export default factory;
