/**
 * SmolVLM (config.json `model_type` `idefics3` or `smolvlm`): a small vision-language model that
 * describes an image or answers a question about it, through transformers.js's processor (image
 * tiling, chat template) and `generate`.
 */
import {
  AutoModelForVision2Seq,
  AutoProcessor,
  Tensor,
  TextStreamer,
  type PreTrainedModel,
  type Processor,
  type RawImage,
} from '@huggingface/transformers';
import {
  interruptOn,
  pretrainedOptions,
  type CaptionHooks,
  type CaptionOutput,
  type Captioner,
  type CaptionerLoadOptions,
  type CaptionRequest,
} from './captioner.js';

/**
 * SmolVLM's chat template, used when the folder's tokenizer_config.json carries none (some exports
 * keep it only in chat_template.json, which transformers.js 4.3 does not read for this processor).
 */
export const SMOLVLM_CHAT_TEMPLATE =
  "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

/** The instruction used when no question is asked. */
export const SMOLVLM_PROMPTS = {
  short: 'Describe this image in one sentence.',
  detailed: 'Describe this image in detail.',
} as const;

interface ProcessorInputs {
  input_ids: Tensor;
  [key: string]: unknown;
}

type CallableProcessor = Processor & {
  (text: string, images: RawImage[], options?: { do_image_splitting?: boolean }): Promise<ProcessorInputs>;
};

export class SmolVlmCaptioner implements Captioner {
  readonly family = 'smolvlm' as const;
  readonly acceptsQuestions = true;
  private model: PreTrainedModel | null;
  private readonly processor: CallableProcessor;

  private constructor(model: PreTrainedModel, processor: CallableProcessor) {
    this.model = model;
    this.processor = processor;
  }

  static async load(opts: CaptionerLoadOptions): Promise<SmolVlmCaptioner> {
    const options = pretrainedOptions(opts);
    const [processor, model] = await Promise.all([
      AutoProcessor.from_pretrained(opts.dir, { local_files_only: true }),
      AutoModelForVision2Seq.from_pretrained(opts.dir, options),
    ]);
    return new SmolVlmCaptioner(model, processor as CallableProcessor);
  }

  /** The chat prompt for a request, with the `<image>` placeholder the processor expands. */
  prompt(request: CaptionRequest): string {
    const text = request.question ?? SMOLVLM_PROMPTS[request.detail];
    const hasTemplate = this.processor.tokenizer?.chat_template != null;
    const rendered = this.processor.apply_chat_template(
      [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text }] }],
      { add_generation_prompt: true, ...(hasTemplate ? {} : { chat_template: SMOLVLM_CHAT_TEMPLATE }) },
    );
    if (typeof rendered !== 'string') throw new Error('chat template did not render to text');
    return rendered;
  }

  async caption(image: RawImage, request: CaptionRequest, hooks: CaptionHooks = {}): Promise<CaptionOutput> {
    const model = this.model;
    if (!model) throw new Error('captioner was disposed');
    // A short caption needs only the whole image at the encoder's resolution; a detailed one or a
    // question (text in the image, small objects) gets the tiles too, at several times the cost.
    const split = request.detail === 'detailed' || request.question !== undefined;
    const inputs = await this.processor(this.prompt(request), [image], { do_image_splitting: split });
    const promptTokens = inputs.input_ids.dims.at(-1) ?? 0;

    const streamer = new TextStreamer(this.processor.tokenizer ?? raise('processor has no tokenizer'), {
      skip_prompt: true,
      skip_special_tokens: true,
      callback_function: (text: string) => {
        if (text !== '') hooks.onText?.(text);
      },
    });
    const stop = interruptOn(hooks.signal);
    try {
      const out = await model.generate({
        ...inputs,
        max_new_tokens: request.maxNewTokens,
        do_sample: false,
        stopping_criteria: stop.criteria,
        streamer,
      });
      const sequences = out instanceof Tensor ? out : raise('generate returned no sequences');
      const generated = sequences.slice(null, [promptTokens, null]);
      const tokens = generated.dims.at(-1) ?? 0;
      const [text = ''] = this.processor.batch_decode(generated, { skip_special_tokens: true });
      const hitTokenLimit = tokens >= request.maxNewTokens;
      // An abort that lands after the last token has cut nothing short: the answer is whole.
      return { text: text.trim(), tokens, promptTokens, hitTokenLimit, interrupted: stop.criteria.interrupted && !hitTokenLimit };
    } finally {
      stop.release();
    }
  }

  async dispose(): Promise<void> {
    const model = this.model;
    this.model = null;
    if (model) await model.dispose();
  }
}

function raise(message: string): never {
  throw new Error(message);
}
