/**
 * What a person may choose for an image, as data every face shows where the choice is made (Discord's
 * option descriptions and choices, Slack's `/imagine help`, the console's form): the samplers by the
 * names people know, the sizes and steps the configured model allows, its defaults, the strength of
 * image-to-image, and the variations the Vary buttons make.
 *
 * Everything here is derived from the configured model's limits and defaults (`models.image`), never
 * written into a face: a config that allows 1024² for an SDXL model shows 1024² everywhere.
 */
import { SAMPLER_CHOICES, SAMPLER_LABELS, type ImageDefaults, type SamplerChoice } from '../jobs/image.js';

/** A sampler as a face offers it: the id the payload takes and the name people know (A1111's). */
export interface SamplerOption {
  id: SamplerChoice;
  label: string;
}

/** The variations each finished image offers (Midjourney's V buttons): a subtle and a strong one. */
export const VARIATIONS = [
  { id: 'subtle', label: 'Vary (Subtle)', strength: 0.35 },
  { id: 'strong', label: 'Vary (Strong)', strength: 0.7 },
] as const;
export type VariationId = (typeof VARIATIONS)[number]['id'];

/** A variation preset by id (`subtle`, `strong`), or undefined for anything else. */
export function variationById(id: string): (typeof VARIATIONS)[number] | undefined {
  return VARIATIONS.find((v) => v.id === id);
}

/** The samplers a person may pick, by name; `default` is the model's own (its scheduler_config.json). */
export function samplerOptions(choices: readonly SamplerChoice[] = SAMPLER_CHOICES): SamplerOption[] {
  return choices.map((id) => ({ id, label: id === 'default' ? "Model's own" : SAMPLER_LABELS[id] }));
}

/** The name a face shows for a sampler id (the id itself when unknown, e.g. in an old payload). */
export function samplerLabel(id: string): string {
  if (id === 'default') return "model's own sampler";
  return (SAMPLER_LABELS as Readonly<Record<string, string>>)[id] ?? id;
}

/** "Euler, Euler a, DPM++ 2M, DPM++ 2M Karras, DDIM, LCM, UniPC" (the model's own left out: it is a default, not a sampler). */
export function samplerListText(choices: readonly SamplerChoice[] = SAMPLER_CHOICES): string {
  return samplerOptions(choices)
    .filter((s) => s.id !== 'default')
    .map((s) => s.label)
    .join(', ');
}

/** "512x512" */
export function sizeText(width: number, height: number): string {
  return `${width}x${height}`;
}

/** The defaults as faces show them next to each option. */
export function defaultsText(d: Readonly<ImageDefaults>): { size: string; steps: string; guidance: string; sampler: string } {
  return { size: sizeText(d.width, d.height), steps: String(d.steps), guidance: String(d.guidance), sampler: samplerLabel(d.scheduler) };
}

/** A strength as people read it: `0.35`, `0.7`, `1`. */
export function strengthText(strength: number): string {
  return String(Math.round(strength * 100) / 100);
}
