/**
 * The CLIP tokenizer of a Stable Diffusion export's tokenizer/ folder, through transformers.js.
 * Exports come in two shapes: a fast `tokenizer.json`, or only the slow files (`vocab.json`,
 * `merges.txt`, `tokenizer_config.json`); for the latter we build the tokenizer.json that
 * transformers' CLIPTokenizerFast would convert them to, so both load the same way.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import { HearthError } from '../../engine/types.js';
import { exists } from './files.js';

/** CLIP's context: position embeddings for 77 tokens. */
export const CLIP_LENGTH = 77;

const DEFAULT_BOS = '<|startoftext|>';
const DEFAULT_EOS = '<|endoftext|>';

type TokenizerJson = Record<string, unknown>;

export interface EncodedPrompt {
  /** Exactly {@link CLIP_LENGTH} ids: BOS, the prompt's tokens, EOS, padding. */
  ids: Int32Array;
  /** True when the prompt had more tokens than fit and was cut. */
  truncated: boolean;
}

export class ClipTokenizer {
  private constructor(
    private readonly tokenizer: PreTrainedTokenizer,
    readonly bosId: number,
    readonly eosId: number,
    readonly padId: number,
  ) {}

  /** Loads `dir` (the model's tokenizer/ folder). Throws MODEL_MISSING or MODEL_INVALID naming the file. */
  static async load(dir: string): Promise<ClipTokenizer> {
    const config = await readJsonIfPresent(join(dir, 'tokenizer_config.json'));
    const specials = await readJsonIfPresent(join(dir, 'special_tokens_map.json'));
    const tokenName = (key: string, fallback: string): string =>
      tokenContent(config?.[key]) ?? tokenContent(specials?.[key]) ?? fallback;
    const bos = tokenName('bos_token', DEFAULT_BOS);
    const eos = tokenName('eos_token', DEFAULT_EOS);
    const unk = tokenName('unk_token', eos);
    const pad = tokenName('pad_token', eos);

    let json: TokenizerJson;
    let file: string;
    const fast = join(dir, 'tokenizer.json');
    if (await exists(fast)) {
      file = fast;
      json = await readJson(fast);
    } else if ((await exists(join(dir, 'vocab.json'))) && (await exists(join(dir, 'merges.txt')))) {
      file = join(dir, 'vocab.json');
      const vocab = await readJson(file);
      const merges = await readFile(join(dir, 'merges.txt'), 'utf8');
      json = clipTokenizerJson(vocab as Record<string, number>, merges, { bos, eos, unk }, file);
    } else {
      throw new HearthError(
        'MODEL_MISSING',
        `the tokenizer folder ${dir} has neither tokenizer.json nor vocab.json + merges.txt`,
        { file: fast, expected: 'tokenizer.json, or vocab.json and merges.txt', dir },
      );
    }

    const { CLIPTokenizer } = await import('@huggingface/transformers');
    let tokenizer: PreTrainedTokenizer;
    try {
      tokenizer = new CLIPTokenizer(json, { ...config, model_max_length: CLIP_LENGTH });
    } catch (e) {
      throw new HearthError('MODEL_INVALID', `${file} is not a tokenizer transformers.js can load: ${(e as Error).message}`, {
        file,
        expected: 'a CLIP BPE tokenizer',
      });
    }
    const id = (name: string, role: string): number => {
      const v = tokenizer.get_vocab().get(name);
      if (typeof v !== 'number') {
        throw new HearthError('MODEL_INVALID', `${file} has no ${role} token "${name}"`, { file, expected: `the ${role} token ${name} in the vocabulary` });
      }
      return v;
    };
    return new ClipTokenizer(tokenizer, id(bos, 'start'), id(eos, 'end'), id(pad, 'padding'));
  }

  /**
   * The prompt as the text encoder takes it: diffusers pads to 77 with `padding="max_length"` and
   * truncates keeping the closing EOS; transformers.js's own truncation drops that EOS, so we cut
   * the body ourselves and always close it.
   */
  encode(text: string): EncodedPrompt {
    const body = this.tokenizer.encode(text, { add_special_tokens: false });
    const room = CLIP_LENGTH - 2;
    const ids = new Int32Array(CLIP_LENGTH).fill(this.padId);
    ids[0] = this.bosId;
    const kept = Math.min(room, body.length);
    for (let i = 0; i < kept; i++) ids[i + 1] = body[i] as number;
    ids[kept + 1] = this.eosId;
    return { ids, truncated: body.length > room };
  }
}

/** The tokenizer.json of a CLIP fast tokenizer, built from the slow tokenizer's vocab and merges. */
function clipTokenizerJson(
  vocab: Record<string, number>,
  mergesText: string,
  tokens: { bos: string; eos: string; unk: string },
  file: string,
): TokenizerJson {
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) {
    throw new HearthError('MODEL_INVALID', `${file} must map tokens to ids`, { file, expected: 'a JSON object of token → id' });
  }
  const merges = mergesText
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line !== '' && !line.startsWith('#version'));
  const added = (content: string): Record<string, unknown> => ({
    id: vocab[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...new Set([tokens.bos, tokens.eos])].filter((t) => typeof vocab[t] === 'number').map(added),
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: {
            Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
          },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [tokens.eos, vocab[tokens.eos] ?? 0],
      cls: [tokens.bos, vocab[tokens.bos] ?? 0],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: tokens.unk,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

/** A special token as configs write it: a string, or an AddedToken object with `content`. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

async function readJson(file: string): Promise<TokenizerJson> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new HearthError('MODEL_INVALID', `${file} is not valid JSON: ${(e as Error).message}`, { file, expected: 'JSON' });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HearthError('MODEL_INVALID', `${file} must hold a JSON object`, { file, expected: 'a JSON object' });
  }
  return parsed as TokenizerJson;
}

async function readJsonIfPresent(file: string): Promise<TokenizerJson | undefined> {
  return (await exists(file)) ? readJson(file) : undefined;
}
