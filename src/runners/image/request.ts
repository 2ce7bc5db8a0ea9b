/**
 * An /imagine payload in the worker: checked again against the model's limits (it crossed a
 * process boundary and SQLite) and filled from its defaults, by the image job's contract.
 */
import { HearthError, type Json } from '../../engine/types.js';
import { parseImagePayload, type ImagePayload, type SamplerChoice } from '../../jobs/image.js';
import type { ImageModelRules } from '../../jobs/image-model.js';
import type { SchedulerChoice } from './schedulers/types.js';

/** What the command sends: everything but the prompt is optional. */
export type { ImageOptionsInput as ImagePayload } from '../../jobs/image.js';

/** A payload with every option decided. */
export type ImageRequest = ImagePayload;

export { GUIDANCE, SEED } from '../../jobs/image.js';

// The contract's samplers are exactly the ones this runner implements: a compile error if they drift.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const samplersMatch: Same<SamplerChoice, SchedulerChoice> = true;
void samplersMatch;

/**
 * Validates a payload against the model's rules (the config's limits and defaults narrowed by the
 * model: see imageModelRules). Throws HearthError (INVALID_INPUT, or PROMPT_TOO_LONG for an over-long prompt
 * or negative prompt) whose message says what was expected and what was given, and whose facts carry
 * `option`, `given` and `allowed`. `randomSeed` is called only when the payload has no seed.
 */
export function validateImagePayload(payload: Json, rules: Pick<ImageModelRules, 'limits' | 'defaults'>, randomSeed: () => number): ImageRequest {
  const parsed = parseImagePayload(payload, { limits: rules.limits, defaults: rules.defaults, randomSeed });
  if (!parsed.ok) throw HearthError.from(parsed.error);
  return parsed.value;
}
