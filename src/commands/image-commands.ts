/**
 * The image commands, defined once for every face: /imagine (with or without an image to start
 * from), Reroll and Vary. Platform-free: faces map their inputs (a Discord attachment, a file shared
 * in Slack, a console upload) to {@link ImagineInput} and the results are data with error codes.
 */
import type { Engine } from '../engine/index.js';
import { err, ok, type JobRecord, type Result } from '../engine/types.js';
import type { Refusal } from '../jobs/contract.js';
import { buildImagePayload, imageJobSteps, imageOptionsOf, imageVariationPayload, randomImageSeed, type ImageOptionsInput, type ImagePayload } from '../jobs/image.js';
import type { ImageModelRules } from '../jobs/image-model.js';
import { isSupportedFormat, sniffImageType } from '../media/image-type.js';
import type { CaptionInput, ImagineInput } from './hearth-commands.js';
import type { Invocation } from './invocation.js';

/** Downloads (or takes) an image under the configured host allowlist and byte cap. */
export type ImageBytes = (input: CaptionInput, opts: { signal?: AbortSignal }) => Promise<Result<{ bytes: Uint8Array; contentType: string | null }>>;

/** /imagine, Reroll and Vary, on the engine's fair queue and limits like every job. */
export class ImageCommands {
  readonly #engine: Engine;
  readonly #rules: ImageModelRules | undefined;
  readonly #imageBytes: ImageBytes;

  /** `rules`: the configured image model's limits and defaults (`imageModelRules`); undefined when none is configured. */
  constructor(engine: Engine, rules: ImageModelRules | undefined, imageBytes: ImageBytes) {
    this.#engine = engine;
    this.#rules = rules;
    this.#imageBytes = imageBytes;
  }

  #model(): ImageModelRules | undefined {
    return this.#rules;
  }

  /**
   * /imagine: checks every option (the negative prompt's length included) against the configured
   * model's limits, fills the rest from its defaults, and queues the image. A refused option queues
   * nothing. With an image to start from, see {@link imagineFrom}.
   */
  imagine(input: ImageOptionsInput, inv: Invocation): Result<JobRecord> {
    const model = this.#model();
    if (!model) return imageModelMissing();
    if (input.initImageBase64 !== undefined && !startsFromImages(model)) return noImageToImage('image');
    return this.#submitImage(buildImagePayload(input, model), inv);
  }

  /**
   * /imagine as every face runs it: with an image to start from it is image-to-image, the image
   * downloaded (or taken) under `files.maxBytes` once the options (its strength included) passed, and
   * its bytes put in the payload; without one, {@link imagine}. A refused option queues and downloads nothing.
   */
  async imagineFrom(input: ImagineInput, inv: Invocation, opts: { signal?: AbortSignal } = {}): Promise<Result<JobRecord>> {
    const model = this.#model();
    if (!model) return imageModelMissing();
    const { image, ...options } = input;
    if (!image) return this.imagine(options, inv);
    const checked = this.checkImagine(input);
    if (!checked.ok) return checked;
    const bytes = await this.#imageBytes('url' in image ? { imageUrl: image.url } : { imageBytes: image.bytes, ...(image.contentType ? { contentType: image.contentType } : {}) }, opts);
    if (!bytes.ok) return bytes;
    const format = sniffImageType(bytes.value.bytes);
    if (!isSupportedFormat(format)) {
      return err({ code: 'IMAGE_INVALID', message: `the image to start from is not a PNG, JPEG, GIF or WebP image (it looks like ${format})`, facts: { option: 'image', detectedType: format, allowedTypes: ['png', 'jpeg', 'gif', 'webp'] } });
    }
    return this.#submitImage(buildImagePayload({ ...options, initImageBase64: base64(bytes.value.bytes) }, model), inv);
  }

  /**
   * Checks /imagine's options without queueing anything (with an image, as image-to-image: its
   * strength's range included), so a face can refuse them before it takes an upload or downloads.
   */
  checkImagine(input: ImagineInput): Result<null> {
    const model = this.#model();
    if (!model) return imageModelMissing();
    const { image, ...options } = input;
    if (image && !startsFromImages(model)) return noImageToImage('image');
    // A stand-in takes the image's place: the options are what is checked here.
    const checked = buildImagePayload(image ? { ...options, initImageBase64: STAND_IN_IMAGE } : options, model);
    return checked.ok ? ok(null) : checked;
  }

  /**
   * Reroll: the same image options as a finished /imagine job, with a new seed. A variation is made
   * again from the same image (its source's result); an image made from an upload cannot be, since
   * uploads are not kept once their job ends.
   */
  reroll(jobId: string, inv: Invocation): Result<JobRecord> {
    const job = this.#engine.getJob(jobId);
    const options = job ? imageOptionsOf(job) : undefined;
    if (!options) return err({ code: 'NOT_FOUND', message: 'that image job is gone, so it cannot be rerolled', facts: { given: jobId } });
    const model = this.#model();
    if (!model) return imageModelMissing();
    const { seed: _seed, initImageBase64: _image, strength, variationOf, ...rest } = options;
    if (strength !== undefined && !startsFromImages(model)) return noImageToImage('variation');
    if (variationOf !== undefined && strength !== undefined) return this.vary(variationOf, strength, inv);
    if (strength !== undefined) {
      return err({ code: 'NOT_FOUND', message: 'the image that job started from is no longer kept, so it cannot be rerolled; vary its result instead', facts: { given: jobId } });
    }
    return this.#submitImage(buildImagePayload(rest, model), inv);
  }

  /**
   * Vary (Midjourney's V): a variation of a finished image job's result, as a new job of whoever asks
   * (through the same queue and limits): that result PNG as the image to start from, the source's
   * options, the given strength (0–1, refused outside, naming the range) and a new seed.
   */
  vary(jobId: string, strength: number, inv: Invocation): Result<JobRecord> {
    const model = this.#model();
    if (!model) return imageModelMissing();
    if (!startsFromImages(model)) return noImageToImage('variation');
    const job = this.#engine.getJob(jobId);
    const options = job ? imageOptionsOf(job) : undefined;
    const png = job?.result?.image?.png;
    if (!job || !options) return err({ code: 'NOT_FOUND', message: 'that image job is gone, so there is nothing to vary', facts: { given: jobId } });
    if (!png) {
      const why = job.state === 'done' ? 'its picture is no longer kept' : 'it has no picture yet';
      return err({ code: 'NOT_FOUND', message: `that image job cannot be varied: ${why}`, facts: { given: jobId } });
    }
    const payload = imageVariationPayload(options, { pngBase64: base64(png), strength, seed: randomImageSeed(), variationOf: jobId }, model.limits);
    return this.#submitImage(payload, inv);
  }

  #submitImage(payload: Result<ImagePayload, Refusal>, inv: Invocation): Result<JobRecord> {
    if (!payload.ok) return payload;
    return this.#engine.submit(
      {
        kind: 'image',
        model: 'image',
        userId: inv.userId,
        payload: { ...payload.value },
        origin: inv.origin,
        weight: inv.weight,
        estimatedSteps: imageJobSteps(payload.value),
      },
      { admin: inv.admin },
    );
  }
}

/** A valid base64 image stand-in, so an /imagine's options are checked before its image is downloaded. */
const STAND_IN_IMAGE = 'AAAA';

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Whether the model can start from an image (image-to-image, Vary): its export has a vae_encoder.
 * A model whose folder could not be read is given the benefit of the doubt (the runner refuses then).
 */
export function startsFromImages(model: ImageModelRules | undefined): boolean {
  return model?.profile?.imageToImage !== false;
}

/**
 * Image-to-image or a Vary asked of a model that cannot start from an image: refused before anything
 * is downloaded or queued, naming why (the export has no vae_encoder) and what still works.
 */
function noImageToImage(what: 'image' | 'variation'): Result<never> {
  const asked = what === 'image' ? 'start from an image' : 'make a variation of a picture';
  return err({
    code: 'INVALID_INPUT',
    message: `this image model cannot ${asked}: its export has no vae_encoder (image-to-image and Vary need one, beside vae_decoder); text-to-image still works`,
    facts: { option: what, given: what === 'image' ? 'an image to start from' : 'a variation', allowed: 'text-to-image only (the export has no vae_encoder)' },
  });
}

function imageModelMissing(): Result<never> {
  return err({ code: 'MODEL_MISSING', message: 'no image model is configured (models.image.dir)', facts: { given: 'image' } });
}
