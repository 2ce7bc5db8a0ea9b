/** The embedding runner's entry points for the GPU worker and `hearth models pull`. */
export { EmbedRunner, parseEmbedSettings, type EmbedSettings } from './embed-runner.js';
export { inspectEmbedFolder, type EmbedFolder } from './model-folder.js';
export { pullEmbeddingModel, DEFAULT_EMBEDDING_SOURCE } from './pull.js';
