/**
 * The image job (/imagine): its payload, its limits and their bounds, the sampler list, and the one
 * check that config, commands, the runner and the adapters share.
 *
 * A payload in the store is complete: the command fills every option (defaults, a random seed)
 * before the job is queued, so the job runs the same after a restart and a reroll can copy it.
 */
import { z } from 'zod';
import type { JobKind, Json, Result } from '../engine/types.js';
import { chars, describe, given, isRecord, parseWith, refuse, type IssueParams, type Refusal } from './contract.js';

/** The samplers the image runner implements (diffusers' schedulers, under A1111/ComfyUI names: {@link SAMPLER_LABELS}). */
export const SAMPLER_NAMES = ['euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'ddim', 'lcm', 'unipc'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];
/** Each sampler as A1111 names it (ComfyUI's names are the ids, with `euler_ancestral` for Euler a). */
export const SAMPLER_LABELS: Readonly<Record<SamplerName, string>> = {
  euler: 'Euler',
  euler_a: 'Euler a',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  ddim: 'DDIM',
  lcm: 'LCM',
  unipc: 'UniPC',
};
/**
 * Other names people type. ComfyUI's `uni_pc` and `uni_pc_bh2` are UniPC with the bh1 and bh2 solver
 * types; ours takes its solver type, like every other setting, from the model's scheduler_config.json
 * (bh2 when it names none, as diffusers does).
 */
const SAMPLER_ALIASES: Readonly<Record<string, SamplerName>> = {
  euler_ancestral: 'euler_a',
  'dpmpp_2m karras': 'dpmpp_2m_karras',
  uni_pc: 'unipc',
  uni_pc_bh2: 'unipc',
};

/**
 * A sampler id for what a person typed: an id (`dpmpp_2m_karras`), an A1111 name (`DPM++ 2M Karras`,
 * `Euler a`) or a ComfyUI one (`euler_ancestral`), in any case; the text unchanged when it is none of
 * these (the payload check then refuses it, listing the ids).
 */
export function samplerFromName(text: string): string {
  const t = text.trim().toLowerCase();
  for (const id of SAMPLER_NAMES) if (t === id || t === SAMPLER_LABELS[id].toLowerCase()) return id;
  if (t === 'default') return 'default';
  return SAMPLER_ALIASES[t] ?? text;
}
/** What a person may pick: a sampler, or `default` (the one the model's scheduler_config.json names). */
export const SAMPLER_CHOICES = [...SAMPLER_NAMES, 'default'] as const;
export type SamplerChoice = (typeof SAMPLER_CHOICES)[number];

/** Stable Diffusion works on latents an eighth of the image size. */
export const IMAGE_SIZE_MULTIPLE = 8;
/** How far `models.image.limits.minSize`/`maxSize` (and the default size) may be set, in pixels. */
export const IMAGE_SIZE_BOUNDS = { min: 64, max: 4096 } as const;
/** How far `models.image.limits.maxSteps` (and the default steps) may be set. */
export const IMAGE_STEPS_BOUNDS = { min: 1, max: 1000 } as const;
/** How far `models.image.limits.maxPromptChars` may be set. */
export const IMAGE_PROMPT_CHARS_BOUNDS = { min: 1, max: 100_000 } as const;
/** Classifier-free guidance scale. */
export const GUIDANCE = { min: 0, max: 30 } as const;
/** The seed is a 32-bit unsigned integer (the runner's PRNG state). */
export const SEED = { min: 0, max: 2 ** 32 - 1 } as const;
/**
 * Image-to-image strength, as diffusers' StableDiffusionImg2ImgPipeline takes it: how much of the
 * denoising is redone over the init image (0 keeps it, 1 replaces it; `floor(steps × strength)` steps run).
 */
export const STRENGTH = { min: 0, max: 1 } as const;
/** The strength a command uses when an image is attached (or a Vary asked for) without one. */
export const DEFAULT_IMAGE_STRENGTH = 0.6;
/** Longest job id `variationOf` may name (job ids are far shorter; this only bounds what is stored). */
export const VARIATION_OF_MAX_CHARS = 200;
/** The image-to-image keys: the init image, its strength, and the job a Vary came from. */
export const IMAGE_TO_IMAGE_KEYS = ['initImageBase64', 'strength', 'variationOf'] as const;

/** The configurable limits of one image model (`models.image.limits`). */
export interface ImageLimits {
  /** Smallest width or height, in pixels. */
  minSize: number;
  /** Largest width or height, in pixels. */
  maxSize: number;
  maxSteps: number;
  /** Longest prompt, and longest negative prompt, in characters. */
  maxPromptChars: number;
  /** Highest guidance, when the model allows less than {@link GUIDANCE}'s (a Turbo model: 0). */
  maxGuidance?: number;
  /** Why the model narrows these limits, said in its refusals (`SDXL-Turbo runs 1–4 steps without guidance`). */
  why?: string;
}

/** What an option left out becomes (`models.image.defaults`). */
export interface ImageDefaults {
  width: number;
  height: number;
  steps: number;
  guidance: number;
  scheduler: SamplerChoice;
  negativePrompt: string;
  /** Image-to-image strength for an image given without one; {@link DEFAULT_IMAGE_STRENGTH} when absent. */
  strength?: number;
}

export const DEFAULT_IMAGE_LIMITS: Readonly<ImageLimits> = { minSize: 256, maxSize: 1024, maxSteps: 60, maxPromptChars: 1000 };
export const DEFAULT_IMAGE_DEFAULTS: Readonly<ImageDefaults> = {
  width: 512,
  height: 512,
  steps: 25,
  guidance: 7.5,
  scheduler: 'euler',
  negativePrompt: '',
};
/** The widest limits a config can set: what a stored payload is read against when its model's limits are not at hand. */
export const WIDEST_IMAGE_LIMITS: Readonly<ImageLimits> = {
  minSize: IMAGE_SIZE_BOUNDS.min,
  maxSize: IMAGE_SIZE_BOUNDS.max,
  maxSteps: IMAGE_STEPS_BOUNDS.max,
  maxPromptChars: IMAGE_PROMPT_CHARS_BOUNDS.max,
};

/**
 * An image job's payload: every option decided. With `initImageBase64` it is image-to-image: the
 * image is resized to width × height, encoded by the model's vae_encoder, noised to `strength` and
 * denoised from there (`strength` is then required; without an image it is refused).
 *
 * The store drops `initImageBase64` once a job has ended, as it does every uploaded image; an ended
 * job read back ({@link imageOptionsOf}) still has its `strength`, which says it was image-to-image.
 */
export interface ImagePayload {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed: number;
  scheduler: SamplerChoice;
  /** The init image's bytes (PNG, JPEG or WebP; GIF's first frame), base64, whitespace removed. As a caption job's `imageBase64`. */
  initImageBase64?: string;
  /** {@link STRENGTH}: how far from the init image to go; required with `initImageBase64`, refused without. */
  strength?: number;
  /** The job whose result this is a variation of (a Vary), for display; only with an init image. */
  variationOf?: string;
}

/**
 * The options as a person gives them (a command, flags, a form): only the prompt is required, and
 * the values are checked, not trusted (a form may send text where a number belongs).
 */
export interface ImageOptionsInput {
  prompt: string;
  negativePrompt?: string;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  seed?: number;
  scheduler?: string;
  /** Image-to-image: the init image, base64 (see {@link ImagePayload.initImageBase64}). */
  initImageBase64?: string;
  /** Image-to-image strength; {@link DEFAULT_IMAGE_STRENGTH} (or `defaults.strength`) when an image comes without one. */
  strength?: number;
  variationOf?: string;
}

/** What filling and checking a payload is held to. */
export interface ImageParseOptions {
  /** Default: {@link DEFAULT_IMAGE_LIMITS}. */
  limits?: Readonly<ImageLimits>;
  /** Fills options left out; without it every option must be there. */
  defaults?: Readonly<ImageDefaults>;
  /** A seed for a payload without one; without it the seed must be there. Called only when needed. */
  randomSeed?: () => number;
  /**
   * Read a stored job that may have ended: its init image may be gone (the store drops uploaded
   * bytes), so a `strength` (and `variationOf`) without one is taken as it is. Only for reading back.
   */
  initImageMayBeDropped?: boolean;
}

const range = (min: number, max: number): string => `${min}–${max}`;

/** What each option allows, in the words the refusals use. */
export function imageAllowed(limits: Readonly<ImageLimits>): Record<keyof ImagePayload, Json> {
  return {
    prompt: `1–${limits.maxPromptChars} characters`,
    negativePrompt: limits.maxPromptChars,
    width: `${range(limits.minSize, limits.maxSize)}, multiple of ${IMAGE_SIZE_MULTIPLE}`,
    height: `${range(limits.minSize, limits.maxSize)}, multiple of ${IMAGE_SIZE_MULTIPLE}`,
    steps: range(1, limits.maxSteps),
    guidance: limits.maxGuidance === GUIDANCE.min ? GUIDANCE.min : range(GUIDANCE.min, limits.maxGuidance ?? GUIDANCE.max),
    seed: range(SEED.min, SEED.max),
    scheduler: [...SAMPLER_CHOICES],
    initImageBase64: 'base64 of a PNG, JPEG or WebP image',
    strength: `${range(STRENGTH.min, STRENGTH.max)}, with an init image`,
    variationOf: `a job id of 1–${VARIATION_OF_MAX_CHARS} characters, with an init image`,
  };
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function promptText(name: 'prompt' | 'negativePrompt', max: number) {
  const words = name === 'prompt' ? 'the prompt' : 'the negative prompt';
  let s = z.string({ error: (iss) => `${words} must be text; got ${describe(iss.input)}` }).superRefine((v, ctx) => {
    const n = chars(v);
    if (n <= max) return;
    // The length is what was given (the text may be thousands of characters); the limit is what is allowed.
    const params: IssueParams = { code: 'PROMPT_TOO_LONG', given: n, allowed: max };
    ctx.addIssue({ code: 'custom', input: v, message: `${words} is ${n} characters; the limit is ${max}`, params });
  });
  if (name === 'prompt') s = s.refine((v) => v.trim() !== '', { error: 'the prompt is empty; describe the image you want' });
  return s;
}

/** The image payload's zod schema for one model's limits. */
export function imagePayloadSchema(limits: Readonly<ImageLimits> = DEFAULT_IMAGE_LIMITS) {
  const side = (name: 'width' | 'height') => {
    const error = (iss: { input?: unknown }) =>
      `${name} must be a multiple of ${IMAGE_SIZE_MULTIPLE} from ${limits.minSize} to ${limits.maxSize}; got ${describe(iss.input)}`;
    return z.number({ error }).int({ error }).min(limits.minSize, { error }).max(limits.maxSize, { error }).multipleOf(IMAGE_SIZE_MULTIPLE, { error });
  };
  const because = limits.why !== undefined ? ` (${limits.why})` : '';
  const maxGuidance = limits.maxGuidance ?? GUIDANCE.max;
  const stepsError = (iss: { input?: unknown }) => `steps must be a whole number from 1 to ${limits.maxSteps}${because}; got ${describe(iss.input)}`;
  const guidanceError = (iss: { input?: unknown }) =>
    maxGuidance === GUIDANCE.min
      ? `guidance must be ${GUIDANCE.min} for this model${because}; got ${describe(iss.input)}`
      : `guidance must be from ${GUIDANCE.min} to ${maxGuidance}${because}; got ${describe(iss.input)}`;
  const seedError = (iss: { input?: unknown }) => `seed must be a whole number from ${SEED.min} to ${SEED.max}; got ${describe(iss.input)}`;
  const strengthError = (iss: { input?: unknown }) => `strength must be from ${STRENGTH.min} to ${STRENGTH.max}; got ${describe(iss.input)}`;
  const variationError = (iss: { input?: unknown }) => `variationOf must be a job id of 1–${VARIATION_OF_MAX_CHARS} characters; got ${describe(iss.input)}`;
  return z.object(
    {
      prompt: promptText('prompt', limits.maxPromptChars),
      negativePrompt: promptText('negativePrompt', limits.maxPromptChars),
      width: side('width'),
      height: side('height'),
      steps: z.number({ error: stepsError }).int({ error: stepsError }).min(1, { error: stepsError }).max(limits.maxSteps, { error: stepsError }),
      guidance: z.number({ error: guidanceError }).min(GUIDANCE.min, { error: guidanceError }).max(maxGuidance, { error: guidanceError }),
      seed: z.number({ error: seedError }).int({ error: seedError }).min(SEED.min, { error: seedError }).max(SEED.max, { error: seedError }),
      scheduler: z.enum(SAMPLER_CHOICES, { error: (iss) => `unknown scheduler ${describe(iss.input)}; choose one of ${SAMPLER_CHOICES.join(', ')}` }),
      initImageBase64: z
        .string({ error: (iss) => `initImageBase64 must be base64 text; got ${describe(iss.input)}` })
        .transform((v) => v.replace(/\s+/g, ''))
        .refine((v) => v !== '' && BASE64.test(v), { error: 'initImageBase64 is not base64 text of an image' })
        .optional(),
      strength: z.number({ error: strengthError }).min(STRENGTH.min, { error: strengthError }).max(STRENGTH.max, { error: strengthError }).optional(),
      variationOf: z
        .string({ error: variationError })
        .min(1, { error: variationError })
        .max(VARIATION_OF_MAX_CHARS, { error: variationError })
        .optional(),
    },
    { error: (iss) => `an image job needs an object with a prompt; got ${describe(iss.input)}` },
  );
}

/**
 * The image-to-image rule between keys: an init image needs a strength, and a strength or a
 * `variationOf` needs an init image (unless reading back an ended job, whose image was dropped).
 */
function imageToImageIssue(p: ImagePayload, mayBeDropped: boolean): Refusal | undefined {
  const allowed = imageAllowed(WIDEST_IMAGE_LIMITS);
  if (p.initImageBase64 !== undefined && p.strength === undefined) {
    const message = `image-to-image needs a strength from ${STRENGTH.min} to ${STRENGTH.max} (how far from the image to go); got nothing`;
    return { code: 'INVALID_INPUT', message, facts: { option: 'strength', given: null, allowed: allowed.strength ?? null } };
  }
  if (p.initImageBase64 !== undefined || mayBeDropped) return undefined;
  if (p.strength !== undefined) {
    const message = `strength is for image-to-image: attach an image, or leave strength out; got strength ${p.strength} and no image`;
    return { code: 'INVALID_INPUT', message, facts: { option: 'strength', given: p.strength, allowed: allowed.strength ?? null } };
  }
  if (p.variationOf !== undefined) {
    const message = `variationOf names the image a variation starts from, so it needs that image (initImageBase64); got none`;
    return { code: 'INVALID_INPUT', message, facts: { option: 'variationOf', given: p.variationOf, allowed: allowed.variationOf ?? null } };
  }
  return undefined;
}

/**
 * Checks an image payload against a model's limits, filling what is left out when `defaults` (and
 * `randomSeed`) are given. Refuses with INVALID_INPUT, or PROMPT_TOO_LONG for a prompt or negative
 * prompt over `maxPromptChars`, whose facts name the option, what was given and what is allowed.
 */
export function parseImagePayload(json: Json, opts: ImageParseOptions = {}): Result<ImagePayload, Refusal> {
  const limits = opts.limits ?? DEFAULT_IMAGE_LIMITS;
  let input: unknown = json;
  if (isRecord(json)) {
    // A default strength applies to an image that came without one; it never makes a job image-to-image.
    const { strength: defaultStrength, ...defaults } = opts.defaults ?? {};
    const filled: Record<string, unknown> = { ...defaults, ...given(json) };
    if (filled.seed === undefined && opts.randomSeed) filled.seed = opts.randomSeed();
    if (filled.strength === undefined && filled.initImageBase64 !== undefined && defaultStrength !== undefined) filled.strength = defaultStrength;
    input = filled;
  }
  const allowed = imageAllowed(limits);
  const parsed = parseWith(imagePayloadSchema(limits), input, (option) => allowed[option as keyof ImagePayload] ?? 'an object with a prompt');
  if (!parsed.ok) return parsed;
  const value = withoutUndefined(parsed.value);
  const issue = imageToImageIssue(value, opts.initImageMayBeDropped === true);
  return issue ? { ok: false, error: issue } : { ok: true, value };
}

/** The parsed payload without the optional keys that were not given (exactOptionalPropertyTypes). */
function withoutUndefined(p: z.output<ReturnType<typeof imagePayloadSchema>>): ImagePayload {
  const { initImageBase64, strength, variationOf, ...rest } = p;
  return {
    ...rest,
    ...(initImageBase64 !== undefined ? { initImageBase64 } : {}),
    ...(strength !== undefined ? { strength } : {}),
    ...(variationOf !== undefined ? { variationOf } : {}),
  };
}

/** A seed for a payload that names none. */
export function randomImageSeed(): number {
  return Math.floor(Math.random() * (SEED.max + 1));
}

/**
 * The payload of an /imagine: the prompt trimmed, options left out taken from the model's defaults,
 * a seed drawn when none is given, every option checked against the model's limits.
 */
export function buildImagePayload(
  input: ImageOptionsInput,
  model: { limits: Readonly<ImageLimits>; defaults: Readonly<ImageDefaults> },
  randomSeed: () => number = randomImageSeed,
): Result<ImagePayload, Refusal> {
  const { prompt, ...options } = input;
  const json: Record<string, Json> = { prompt: typeof prompt === 'string' ? prompt.trim() : prompt };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) json[k] = v as Json;
  if (typeof json.scheduler === 'string') json.scheduler = samplerFromName(json.scheduler);
  const defaults = { ...model.defaults, strength: model.defaults.strength ?? DEFAULT_IMAGE_STRENGTH };
  return parseImagePayload(json, { limits: model.limits, defaults, randomSeed });
}

/**
 * A Vary (Midjourney's V): the options of the job it came from (`source`, as {@link imageOptionsOf}
 * reads it) with that job's result image as the init image, a strength and a new seed. Its size is
 * the source's, which is the result image's own. Checked against `limits` (default: the widest a
 * config allows; a command checks it again against its model's when it queues it).
 */
export function imageVariationPayload(
  source: Readonly<ImagePayload>,
  variation: { pngBase64: string; strength: number; seed: number; variationOf?: string },
  limits: Readonly<ImageLimits> = WIDEST_IMAGE_LIMITS,
): Result<ImagePayload, Refusal> {
  const { initImageBase64: _image, strength: _strength, variationOf: _of, ...options } = source;
  const json: Record<string, Json> = { ...options, initImageBase64: variation.pngBase64, strength: variation.strength, seed: variation.seed };
  if (variation.variationOf !== undefined) json.variationOf = variation.variationOf;
  return parseImagePayload(json, { limits });
}

const NUMERIC_OPTIONS = ['width', 'height', 'steps', 'guidance', 'seed', 'strength'] as const;
const TEXT_OPTIONS = ['negativePrompt', 'scheduler', 'initImageBase64', 'variationOf'] as const;

/**
 * The options from JSON a form sent (the console): numbers may come as text and an option left
 * empty as '' or null. Only the kinds of values are checked here (a number, text); the ranges are
 * {@link buildImagePayload}'s, with the model's limits.
 */
export function imageOptionsFromJson(b: Readonly<Record<string, Json | undefined>>): Result<ImageOptionsInput, Refusal> {
  const input: ImageOptionsInput = { prompt: typeof b.prompt === 'string' ? b.prompt : '' };
  if (b.prompt !== undefined && b.prompt !== null && typeof b.prompt !== 'string') {
    return refuse('INVALID_INPUT', 'prompt', `the prompt must be text; got ${describe(b.prompt)}`, b.prompt, 'text');
  }
  for (const name of NUMERIC_OPTIONS) {
    const v = b[name];
    if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) continue;
    const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
    if (!Number.isFinite(n)) return refuse('INVALID_INPUT', name, `${name} must be a number; got ${describe(v)}`, v, imageAllowed(DEFAULT_IMAGE_LIMITS)[name]);
    input[name] = n;
  }
  for (const name of TEXT_OPTIONS) {
    const v = b[name];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') return refuse('INVALID_INPUT', name, `${name} must be text; got ${describe(v)}`, v, name === 'scheduler' ? [...SAMPLER_CHOICES] : imageAllowed(DEFAULT_IMAGE_LIMITS)[name]);
    // A negative prompt of only spaces is none.
    if (name === 'negativePrompt' && v.trim() === '') continue;
    input[name] = v;
  }
  return { ok: true, value: input };
}

/**
 * The denoising steps an image-to-image job runs, as diffusers' StableDiffusionImg2ImgPipeline.get_timesteps
 * counts them: `min(int(steps × strength), steps)` (the float product truncated, as Python's `int`).
 * Text-to-image (no strength) runs all `steps`.
 */
export function denoisingSteps(payload: Pick<ImagePayload, 'steps' | 'strength'>): number {
  if (payload.strength === undefined) return payload.steps;
  return Math.min(Math.floor(payload.steps * payload.strength), payload.steps);
}

/**
 * Estimated engine steps of an image job: the denoising steps, the text encoder and the decode, and
 * for image-to-image the init image's encode (its denoising steps are fewer: {@link denoisingSteps}).
 */
export function imageJobSteps(payload: Pick<ImagePayload, 'steps' | 'strength'>): number {
  return payload.strength === undefined ? payload.steps + 2 : denoisingSteps(payload) + 3;
}

/**
 * The options of an image job, for what adapters show (prompt, size, seed…); undefined for another
 * kind or a payload that is not one. Read against the widest limits a config allows, since a
 * stored payload was checked against its model's own when it was queued. An ended image-to-image
 * job comes back with its `strength` (and `variationOf`) but no `initImageBase64`: the store dropped it,
 * so such a job cannot be rerolled as it was (a Vary of its result can).
 */
export function imageOptionsOf(job: { kind: JobKind; payload: Json }): ImagePayload | undefined {
  if (job.kind !== 'image') return undefined;
  const parsed = parseImagePayload(job.payload, { limits: WIDEST_IMAGE_LIMITS, initImageMayBeDropped: true });
  return parsed.ok ? parsed.value : undefined;
}
