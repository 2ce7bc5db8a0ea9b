/**
 * The job contracts, one per kind: payload types, their zod schemas, limits as named constants,
 * `parse<Kind>Payload` for whoever reads a payload, builders for the commands that make one, and
 * typed accessors (`imageOptionsOf`, `captionOptionsOf`, `chatPayloadOf`, `chatQuestionOf`) for the
 * adapters' views. Imports only the engine's vocabulary and zod.
 */
export * from './contract.js';
export * from './chat.js';
export * from './image.js';
export * from './image-model.js';
export * from './caption.js';
export * from './embed.js';
