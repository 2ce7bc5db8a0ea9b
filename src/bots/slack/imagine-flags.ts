/**
 * `/imagine` options as flags in the command text, since Slack slash commands take one line of text:
 * `/imagine a fox in snow --steps 20 --seed 7 --size 768x512 --no "text, watermark"`.
 *
 * Parsing is forgiving about what phones and Macs do to typed text (an em dash for `--`, curly
 * quotes) and strict about values: a flag that is unknown, has no value or a value of the wrong kind
 * is an error that says which and what was expected. Ranges and lengths are the image job
 * contract's (src/jobs/image.ts), checked by the command; the help shows them.
 */
import type { CommandLimits, ImagineInput } from '../../commands/hearth-commands.js';
import { err, type ErrorInfo, type FactsOf, ok, type Result } from '../../engine/types.js';
import { defaultsText, strengthText } from '../../commands/image-choices.js';
import { IMAGE_SIZE_MULTIPLE, SEED } from '../../jobs/image.js';

/** The limits the help text shows: the image limits of the commands, and the largest image that can be given (`files.maxBytes`). */
export type ImagineHelpLimits = CommandLimits['image'] & {
  maxImageBytes: number;
  /** The model in words (`imageModelSummary`'s first line: its name, native size, Turbo or not). */
  model?: string;
};

type FlagName = 'steps' | 'seed' | 'size' | 'width' | 'height' | 'no' | 'guidance' | 'scheduler' | 'image' | 'strength';

const ALIASES: Record<string, FlagName> = {
  steps: 'steps',
  seed: 'seed',
  size: 'size',
  width: 'width',
  w: 'width',
  height: 'height',
  h: 'height',
  no: 'no',
  neg: 'no',
  negative: 'no',
  guidance: 'guidance',
  cfg: 'guidance',
  scheduler: 'scheduler',
  sampler: 'scheduler',
  image: 'image',
  init: 'image',
  strength: 'strength',
};

export type ImagineRequest = { help: true } | { help: false; input: ImagineInput };

/** Splits on whitespace, keeping "quoted strings" (straight or curly quotes) together. */
function tokenize(text: string): Array<{ text: string; quoted: boolean }> {
  const out: Array<{ text: string; quoted: boolean }> = [];
  const normalized = text.replace(/[\u201c\u201d\u201e\u00ab\u00bb]/g, '"').replace(/[\u2018\u2019]/g, "'");
  const re = /"([^"]*)"?|'([^']*)'(?=\s|$)|(\S+)/g;
  for (let m = re.exec(normalized); m !== null; m = re.exec(normalized)) {
    if (m[3] !== undefined) out.push({ text: m[3], quoted: false });
    else out.push({ text: m[1] ?? m[2] ?? '', quoted: true });
  }
  return out;
}

/** `--steps`, `—steps` (autocorrected `--`), `–steps`; returns the flag name and an inline `=value`. */
function flagOf(token: string): { name: string; inline?: string } | null {
  const m = /^(?:--|\u2014|\u2013)([A-Za-z][\w-]*)(?:=(.*))?$/.exec(token);
  if (!m) return null;
  const name = (m[1] ?? '').toLowerCase();
  return m[2] !== undefined ? { name, inline: m[2] } : { name };
}

const invalid = (message: string, facts: FactsOf<'INVALID_INPUT'>): Result<never> =>
  err<ErrorInfo>({ code: 'INVALID_INPUT', message, facts });

function wholeNumber(flag: string, value: string): Result<number> {
  if (!/^\d+$/.test(value)) return invalid(`--${flag} takes a whole number; got "${value}"`, { option: flag, given: value });
  return ok(Number(value));
}

/**
 * The URL in a flag's value: Slack sends a pasted link as `<https://…>` or `<https://…|label>`, a
 * typed one as is. Undefined for anything that is not an http(s) URL (the download's own checks,
 * host allowlist and byte cap, come after).
 */
function linkOf(value: string): string | undefined {
  const m = /^<([^|>]+)(?:\|[^>]*)?>$/.exec(value);
  const text = (m?.[1] ?? value).trim();
  try {
    const u = new URL(text);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** Parses the text of `/imagine`. `help`, `--help` or nothing at all asks for the help text. */
export function parseImagine(text: string): Result<ImagineRequest> {
  const tokens = tokenize(text.trim());
  if (tokens.length === 0) return ok({ help: true });
  const first = tokens[0];
  if (tokens.length === 1 && first && !first.quoted && /^(?:--|\u2014)?help$/i.test(first.text)) return ok({ help: true });

  const words: string[] = [];
  const input: Omit<ImagineInput, 'prompt'> = {};
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const flag = token.quoted ? null : flagOf(token.text);
    if (!flag) {
      words.push(token.quoted ? `"${token.text}"` : token.text);
      continue;
    }
    if (flag.name === 'help') return ok({ help: true });
    const name = ALIASES[flag.name];
    if (!name) {
      return invalid(`unknown option --${flag.name}; the options are --steps, --seed, --size, --no, --guidance, --sampler, --image and --strength (see /imagine help)`, {
        option: flag.name,
      });
    }
    let value = flag.inline;
    if (value === undefined) {
      const next = tokens[i + 1];
      if (!next || (!next.quoted && flagOf(next.text))) return invalid(`--${flag.name} needs a value (see /imagine help)`, { option: flag.name });
      value = next.text;
      i++;
    }
    value = value.trim();
    switch (name) {
      case 'steps':
      case 'seed':
      case 'width':
      case 'height': {
        const n = wholeNumber(flag.name, value);
        if (!n.ok) return n;
        input[name] = n.value;
        break;
      }
      case 'size': {
        const m = /^(\d+)\s*(?:[x\u00d7*:]\s*(\d+))?$/i.exec(value);
        if (!m) return invalid(`--size takes WIDTHxHEIGHT, like 768x512, or one number for a square; got "${value}"`, { option: 'size', given: value });
        input.width = Number(m[1]);
        input.height = Number(m[2] ?? m[1]);
        break;
      }
      case 'guidance': {
        if (!/^\d+(?:\.\d+)?$|^\.\d+$/.test(value)) return invalid(`--guidance takes a number like 7.5; got "${value}"`, { option: 'guidance', given: value });
        input.guidance = Number(value);
        break;
      }
      case 'scheduler':
        input.scheduler = value.toLowerCase();
        break;
      case 'strength': {
        // The range (0–1) is the command's to check, so every face refuses it in the same words.
        if (!/^\d+(?:\.\d+)?$|^\.\d+$/.test(value)) return invalid(`--strength takes a number from 0 to 1, like 0.6; got "${value}"`, { option: 'strength', given: value });
        input.strength = Number(value);
        break;
      }
      case 'image': {
        const url = linkOf(value);
        if (!url) return invalid(`--image takes the link of an image shared in Slack (its "Copy link to file"); got "${value}"`, { option: 'image', given: value });
        input.image = { url };
        break;
      }
      case 'no':
        input.negativePrompt = input.negativePrompt ? `${input.negativePrompt}, ${value}` : value;
        break;
    }
  }
  const prompt = words.join(' ').trim();
  if (prompt.length === 0) return invalid('the prompt is empty; describe the image you want before the options (see /imagine help)', { given: 0 });
  return ok({ help: false, input: { prompt, ...input } });
}

/** The text `/imagine help` shows, with this hearth's own limits, defaults and samplers (the configured model's). */
export function imagineHelp(limits: ImagineHelpLimits): string {
  const d = defaultsText(limits.defaults);
  const samplers = limits.samplers.map((s) => `\`${s.id}\` (${s.label})`).join(', ');
  const vary = limits.variations.map((v) => `*${v.label}* (strength ${strengthText(v.strength)})`).join(' and ');
  const fromImage = limits.fromImage;
  return [
    `*/imagine* paints a picture from a description${limits.model ? `, with ${limits.model}` : ''}.`,
    '`/imagine a lighthouse at dusk, oil painting --steps 20 --seed 7 --size 768x512 --no "text, watermark"`',
    '',
    'Options (anywhere in the text, all optional):',
    `• \`--steps N\` — how long to work on it, 1 to ${limits.maxSteps} (default ${d.steps})`,
    `• \`--seed N\` — ${SEED.min} to ${SEED.max}; the same seed and options give the same picture; leave it out for a new one`,
    `• \`--size WxH\` — e.g. 768x512, multiples of ${IMAGE_SIZE_MULTIPLE} from ${limits.minSize} to ${limits.maxSize} (default ${d.size}); or \`--width\` / \`--height\``,
    `• \`--no "things"\` — what to keep out of the picture (a negative prompt, up to ${limits.maxPromptChars} characters)`,
    `• \`--guidance N\` — how closely to follow the text, ${limits.minGuidance} to ${limits.maxGuidance} (default ${d.guidance})`,
    `• \`--sampler NAME\` — one of ${samplers} (default ${d.sampler}); the names work too, in quotes: \`--sampler "DPM++ 2M Karras"\``,
    ...(fromImage
      ? [
          `• \`--image LINK\` — start from an image shared in Slack (its link: _Copy link to file_); the file can be up to ${mb(limits.maxImageBytes)}`,
          `• \`--strength N\` — with an image: how much to change it, ${strengthText(limits.minStrength)} (keep it) to ${strengthText(limits.maxStrength)} (ignore it); default ${strengthText(limits.defaultStrength)}`,
          '',
          `Or share an image in a message that mentions me and starts with \`imagine\`: \`@hearth imagine the same, as a watercolour --strength 0.5\`.`,
          `Put several words after a flag in quotes. Each picture comes with a *Reroll* button for another seed, and ${vary} buttons for a variation of it.`,
        ]
      : ['', 'This model cannot start from an image (its export has no VAE encoder). Put several words after a flag in quotes. Each picture comes with a *Reroll* button for another seed.']),
  ].join('\n');
}

function mb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB` : `${Math.round(bytes / 1024)} KB`;
}
