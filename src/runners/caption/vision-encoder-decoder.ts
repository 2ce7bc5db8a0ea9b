/**
 * The vit-gpt2 style captioner (config.json `model_type: "vision-encoder-decoder"`), through
 * transformers.js's own `image-to-text` pipeline. It describes; it cannot take a question.
 */
import { pipeline, TextStreamer, type ImageToTextPipeline, type RawImage } from '@huggingface/transformers';
import {
  interruptOn,
  pretrainedOptions,
  type CaptionHooks,
  type CaptionOutput,
  type Captioner,
  type CaptionerLoadOptions,
  type CaptionRequest,
} from './captioner.js';

export class VisionEncoderDecoderCaptioner implements Captioner {
  readonly family = 'vision-encoder-decoder' as const;
  readonly acceptsQuestions = false;
  private pipe: ImageToTextPipeline | null;

  private constructor(pipe: ImageToTextPipeline) {
    this.pipe = pipe;
  }

  static async load(opts: CaptionerLoadOptions): Promise<VisionEncoderDecoderCaptioner> {
    const pipe = await pipeline('image-to-text', opts.dir, pretrainedOptions(opts));
    return new VisionEncoderDecoderCaptioner(pipe);
  }

  async caption(image: RawImage, request: CaptionRequest, hooks: CaptionHooks = {}): Promise<CaptionOutput> {
    const pipe = this.pipe;
    if (!pipe) throw new Error('captioner was disposed');
    let promptTokens = 0;
    let tokens = 0;
    let sawPrompt = false;
    const streamer = new TextStreamer(pipe.tokenizer, {
      skip_prompt: false,
      skip_special_tokens: true,
      callback_function: (text: string) => {
        if (text !== '') hooks.onText?.(text);
      },
      token_callback_function: (ids: bigint[]) => {
        // The first batch the streamer sees is the decoder prompt (the start token), not output.
        if (!sawPrompt) {
          sawPrompt = true;
          promptTokens = ids.length;
        } else {
          tokens += ids.length;
        }
      },
    });
    const stop = interruptOn(hooks.signal);
    try {
      const out = await pipe(image, {
        max_new_tokens: request.maxNewTokens,
        do_sample: false,
        stopping_criteria: stop.criteria,
        streamer,
      });
      const text = out[0]?.generated_text ?? '';
      const hitTokenLimit = tokens >= request.maxNewTokens;
      // An abort that lands after the last token has cut nothing short: the caption is whole.
      return { text: text.trim(), tokens, promptTokens, hitTokenLimit, interrupted: stop.criteria.interrupted && !hitTokenLimit };
    } finally {
      stop.release();
    }
  }

  async dispose(): Promise<void> {
    const pipe = this.pipe;
    this.pipe = null;
    if (pipe) await pipe.dispose();
  }
}
