/**
 * What one image model allows: the config's limits and defaults narrowed by what the model is (its
 * family, native size, whether it is a Turbo model, whether it can start from an image), read from
 * the model's own configs by whoever has the folder (the app at start, the runner at load). Commands,
 * the runner and the faces all hold a payload to the same {@link ImageModelRules}, and
 * {@link imageModelSummary} says them in words where people choose the options.
 */
import {
  DEFAULT_IMAGE_DEFAULTS,
  DEFAULT_IMAGE_STRENGTH,
  GUIDANCE,
  IMAGE_SIZE_MULTIPLE,
  SAMPLER_CHOICES,
  SAMPLER_LABELS,
  STRENGTH,
  type ImageDefaults,
  type ImageLimits,
  type SamplerName,
} from './image.js';

/** Stable Diffusion 1.x/2.x, or SDXL (two text encoders). */
export type ImageModelFamily = 'sd' | 'sdxl';

/** What the model folder says about the model (model_index.json, unet/ and vae configs, the files there). */
export interface ImageModelProfile {
  family: ImageModelFamily;
  /** The size it was trained at, in pixels: unet/config.json `sample_size` × 8 (512 SD 1.5 and the Turbos, 768 SD 2 v, 1024 SDXL). */
  nativeSize: number;
  /** Distilled to run 1–4 steps without guidance (SD-Turbo, SDXL-Turbo). */
  turbo: boolean;
  /** The export has a vae_encoder: it can start from an image. */
  imageToImage: boolean;
  /** What to call it: `SDXL-Turbo`, `SDXL`, `SD`. */
  label: string;
}

/** `models.image.kind`: `auto` reads it from the folder; `turbo` or `standard` say it. */
export const IMAGE_MODEL_KINDS = ['auto', 'standard', 'turbo'] as const;
export type ImageModelKind = (typeof IMAGE_MODEL_KINDS)[number];

/**
 * Turbo models (SD-Turbo, SDXL-Turbo) run 1–4 steps with guidance 0, as Stability AI's model cards
 * specify ("SDXL-Turbo does not make use of guidance_scale or negative_prompt, we disable it with
 * guidance_scale=0.0"; one step is enough, four at most).
 */
export const TURBO_STEPS = { min: 1, max: 4 } as const;
/**
 * SDXL (native 1024) below 512 pixels a side makes broken images: its smallest size, whatever the
 * config allows. An SDXL model trained smaller (SDXL-Turbo at 512) goes down to half its native size.
 */
export const SDXL_MIN_SIZE = 512;
/** The default size when neither the config nor the model says one. */
export const FALLBACK_NATIVE_SIZE = 512;

/** `models.image` as the rules read it: the defaults' width and height may be left to the model. */
export interface ImageModelConfig {
  limits: Readonly<ImageLimits>;
  defaults: Readonly<Omit<ImageDefaults, 'width' | 'height'> & { width?: number | undefined; height?: number | undefined }>;
  kind?: ImageModelKind | undefined;
}

/** One model's rules: the limits and defaults every payload for it is built and checked with. */
export interface ImageModelRules {
  limits: ImageLimits;
  defaults: ImageDefaults;
  /** What the model is, when its folder could be read. */
  profile?: ImageModelProfile;
  turbo: boolean;
}

const within = (v: number, min: number, max: number): number => Math.min(Math.max(v, min), max);
const multipleOf8 = (v: number): number => Math.floor(v / IMAGE_SIZE_MULTIPLE) * IMAGE_SIZE_MULTIPLE;

/**
 * The rules for a model: the config's limits, narrowed by the model.
 * - Size: SDXL is held to at least {@link SDXL_MIN_SIZE} (half its native size if that is less; never
 *   above the config's maxSize). A
 *   default size the config leaves out is the model's native size, else {@link FALLBACK_NATIVE_SIZE},
 *   brought within the limits.
 * - Turbo (the profile says so, or `kind: turbo`; `kind: standard` says it is not): steps are limited
 *   to {@link TURBO_STEPS} and guidance to 0. These are enforced as limits, so a payload asking for
 *   more is refused with words saying why, never silently changed; the defaults are brought inside
 *   them (the configured default steps capped at 4, guidance 0) so a plain /imagine just works.
 */
export function imageModelRules(config: ImageModelConfig, profile?: ImageModelProfile): ImageModelRules {
  const turbo = config.kind === 'turbo' || (config.kind !== 'standard' && profile?.turbo === true);
  const limits: ImageLimits = { ...config.limits };
  if (profile?.family === 'sdxl') {
    const floor = multipleOf8(Math.min(SDXL_MIN_SIZE, profile.nativeSize / 2));
    limits.minSize = Math.min(Math.max(limits.minSize, floor), limits.maxSize);
  }
  const native = profile?.nativeSize ?? FALLBACK_NATIVE_SIZE;
  const side = (given: number | undefined): number => within(multipleOf8(given ?? native), limits.minSize, multipleOf8(limits.maxSize));
  const defaults: ImageDefaults = {
    ...DEFAULT_IMAGE_DEFAULTS,
    ...config.defaults,
    width: side(config.defaults.width),
    height: side(config.defaults.height),
    strength: config.defaults.strength ?? DEFAULT_IMAGE_STRENGTH,
  };
  if (turbo) {
    const why = `${profile?.label ?? 'this Turbo model'} runs ${TURBO_STEPS.min}–${TURBO_STEPS.max} steps without guidance`;
    limits.maxSteps = Math.min(limits.maxSteps, TURBO_STEPS.max);
    limits.maxGuidance = 0;
    limits.why = why;
    // The configured default steps are for a standard model (25 unless set): one step unless it already fits.
    if (defaults.steps > limits.maxSteps) defaults.steps = TURBO_STEPS.min;
    defaults.guidance = 0;
  }
  defaults.steps = Math.min(defaults.steps, limits.maxSteps);
  return { limits, defaults, turbo, ...(profile ? { profile } : {}) };
}

/**
 * A model's options in words, for where people choose them (the /imagine options' descriptions,
 * `/imagine help`, the console's form): its name and native size, sizes, steps, guidance, samplers,
 * and whether it can start from an image. Plain text, one line per option.
 */
export function imageModelSummary(rules: ImageModelRules): string {
  const { limits: l, defaults: d, profile } = rules;
  const name = profile ? `${profile.label} (native ${profile.nativeSize}×${profile.nativeSize})` : 'Image model';
  const maxGuidance = l.maxGuidance ?? GUIDANCE.max;
  const samplers = SAMPLER_CHOICES.map((s) => (s === 'default' ? "default (the model's own)" : SAMPLER_LABELS[s as SamplerName]));
  const lines = [
    name + (rules.turbo ? `: a Turbo model, ${TURBO_STEPS.min}–${TURBO_STEPS.max} steps without guidance` : ''),
    `Size: ${l.minSize}–${l.maxSize} pixels a side, multiples of ${IMAGE_SIZE_MULTIPLE} (default ${d.width}×${d.height})`,
    `Steps: 1–${l.maxSteps} (default ${d.steps})`,
    maxGuidance === 0 ? 'Guidance: 0 (off)' : `Guidance: ${GUIDANCE.min}–${maxGuidance} (default ${d.guidance})`,
    `Samplers: ${samplers.join(', ')} (default ${d.scheduler === 'default' ? "the model's own" : SAMPLER_LABELS[d.scheduler]})`,
  ];
  if (profile?.imageToImage === false) lines.push('From an image: not with this model (its export has no VAE encoder)');
  else lines.push(`From an image: strength ${STRENGTH.min}–${STRENGTH.max}, how far to go from it (default ${d.strength ?? DEFAULT_IMAGE_STRENGTH})`);
  return lines.join('\n');
}
