import {
  ApplicationCommandOptionType,
  ApplicationIntegrationType,
  ChannelType,
  InteractionContextType,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord.js';
import type { CommandLimits } from '../../commands/hearth-commands.js';
import { defaultsText, samplerListText, strengthText } from '../../commands/image-choices.js';

/** Discord's cap on a string option's length. */
const DISCORD_MAX_STRING = 6000;
const MAX_CHOICES = 25;
/** Discord's cap on a command's or option's description. */
export const MAX_DESCRIPTION = 100;

/** A description within Discord's 100 characters: clipped with an ellipsis when longer. */
function describe(text: string): string {
  return text.length <= MAX_DESCRIPTION ? text : `${text.slice(0, MAX_DESCRIPTION - 1)}…`;
}

/** Image sizes offered as choices: common shapes that fit the configured bounds (multiples of 8). */
export function sizeChoices(limits: CommandLimits['image']): string[] {
  const shapes: Array<[number, number]> = [
    [512, 512], [768, 768], [1024, 1024], [256, 256], [384, 384], [640, 640],
    [512, 768], [768, 512], [640, 448], [448, 640], [768, 1024], [1024, 768],
    [576, 1024], [1024, 576], [832, 1216], [1216, 832],
  ];
  const ok = (v: number) => v >= limits.minSize && v <= limits.maxSize && v % limits.sizeMultiple === 0;
  const out = shapes.filter(([w, h]) => ok(w) && ok(h)).map(([w, h]) => `${w}x${h}`);
  // The model's default (its native size, for SDXL 1024x1024) comes first, offered even when no common shape is it.
  const d = limits.defaults;
  const native = `${d.width}x${d.height}`;
  if (ok(d.width) && ok(d.height)) out.unshift(...(out.includes(native) ? out.splice(out.indexOf(native), 1) : [native]));
  const smallest = Math.ceil(limits.minSize / limits.sizeMultiple) * limits.sizeMultiple;
  if (out.length === 0 && ok(smallest)) out.push(`${smallest}x${smallest}`);
  return out.slice(0, MAX_CHOICES);
}

/** /ask's `adapter` option, its choices the configured LoRA adapters (none: no option). */
function adapterOption(adapters: readonly string[]) {
  if (adapters.length === 0) return [];
  const base = { type: ApplicationCommandOptionType.String as const, name: 'adapter', description: 'A fine-tuned adapter to answer with' };
  if (adapters.length > MAX_CHOICES) return [{ ...base, max_length: 64 }];
  return [{ ...base, choices: adapters.map((a) => ({ name: a, value: a })) }];
}

function sizeOption(img: CommandLimits['image']) {
  const choices = sizeChoices(img);
  const description = describe(`Width x height, ${img.minSize}–${img.maxSize} px (default ${defaultsText(img.defaults).size})`);
  const base = { type: ApplicationCommandOptionType.String as const, name: 'size', description };
  return choices.length > 0 ? { ...base, choices: choices.map((c) => ({ name: c === choices[0] ? `${c} (default)` : c, value: c })) } : { ...base, max_length: 11 };
}

/** The sampler option: its description lists the samplers by name, its choices carry their ids. */
function samplerOption(img: CommandLimits['image']) {
  const d = defaultsText(img.defaults);
  return {
    type: ApplicationCommandOptionType.String as const,
    name: 'sampler',
    description: describe(`${samplerListText(img.schedulers)} (default ${d.sampler})`),
    choices: img.samplers.slice(0, MAX_CHOICES).map((s) => ({ name: s.id === img.defaults.scheduler ? `${s.label} (default)` : s.label, value: s.id })),
  };
}

/** /imagine's options, with the running model's limits and defaults in their bounds and descriptions. */
function imagineOptions(img: CommandLimits['image'], promptChars: number) {
  const d = defaultsText(img.defaults);
  return [
    { type: ApplicationCommandOptionType.String, name: 'prompt', description: 'What to paint', required: true, max_length: promptChars },
    { type: ApplicationCommandOptionType.String, name: 'negative', description: 'What to keep out of the image', max_length: promptChars },
    sizeOption(img),
    { type: ApplicationCommandOptionType.Integer, name: 'steps', description: describe(`Denoising steps, 1–${img.maxSteps} (default ${d.steps}); more is slower and finer`), min_value: 1, max_value: img.maxSteps },
    { type: ApplicationCommandOptionType.Integer, name: 'seed', description: 'Same seed and options, same image', min_value: 0, max_value: img.maxSeed },
    {
      type: ApplicationCommandOptionType.Number,
      name: 'guidance',
      description: describe(`How closely to follow the prompt, ${img.minGuidance}–${img.maxGuidance} (default ${d.guidance})`),
      min_value: img.minGuidance,
      max_value: img.maxGuidance,
    },
    samplerOption(img),
    ...fromImageOptions(img),
  ] as const;
}

/** /imagine's image to start from and its strength: none when the model cannot start from an image (no vae_encoder). */
function fromImageOptions(img: CommandLimits['image']) {
  if (!img.fromImage) return [];
  return [
    { type: ApplicationCommandOptionType.Attachment, name: 'image', description: 'An image to start from (image-to-image)' },
    {
      type: ApplicationCommandOptionType.Number,
      name: 'strength',
      description: describe(
        `With an image: how much to change it, ${strengthText(img.minStrength)}–${strengthText(img.maxStrength)} (default ${strengthText(img.defaultStrength)})`,
      ),
      min_value: img.minStrength,
      max_value: img.maxStrength,
    },
  ] as const;
}

/**
 * hearth's slash commands, with the option bounds of the running configuration (the job contracts'
 * limits, as {@link CommandLimits} carries them). `imagePromptChars` overrides the image prompt's
 * limit; by default it is `limits.image.maxPromptChars`.
 */
export function commandDefinitions(limits: CommandLimits, imagePromptChars = limits.image.maxPromptChars): RESTPutAPIApplicationCommandsJSONBody {
  const where = {
    contexts: [InteractionContextType.Guild, InteractionContextType.BotDM],
    integration_types: [ApplicationIntegrationType.GuildInstall],
  };
  const img = limits.image;
  return [
    {
      name: 'ask',
      description: "Ask hearth's private AI. In a thread or DM it remembers the conversation.",
      ...where,
      options: [
        { type: ApplicationCommandOptionType.String, name: 'prompt', description: 'Your question', required: true, max_length: Math.min(limits.maxPromptChars, DISCORD_MAX_STRING) },
        { type: ApplicationCommandOptionType.Boolean, name: 'private', description: 'Only you see the answer (default: no)' },
        { type: ApplicationCommandOptionType.Attachment, name: 'image', description: 'An image to ask about' },
        ...adapterOption(limits.adapters ?? []),
      ],
    },
    {
      name: 'imagine',
      description: 'Paint an image with Stable Diffusion.',
      ...where,
      options: [...imagineOptions(img, Math.min(imagePromptChars, DISCORD_MAX_STRING))],
    },
    {
      name: 'caption',
      description: 'Describe an image, or answer a question about it.',
      ...where,
      options: [
        { type: ApplicationCommandOptionType.Attachment, name: 'image', description: 'The image', required: true },
        { type: ApplicationCommandOptionType.String, name: 'question', description: 'A question about the image', max_length: Math.min(limits.maxQuestionChars, DISCORD_MAX_STRING) },
        { type: ApplicationCommandOptionType.String, name: 'detail', description: 'Short or detailed (default short)', choices: limits.captionDetails.map((d) => ({ name: d, value: d })) },
      ],
    },
    { name: 'queue', description: 'Your jobs, the queue, and what the GPU is doing.', ...where },
    {
      name: 'cancel',
      description: 'Cancel a job (your newest one if you name none).',
      ...where,
      options: [{ type: ApplicationCommandOptionType.String, name: 'job', description: 'The job (see /queue)', autocomplete: true, max_length: 100 }],
    },
    { name: 'forget', description: 'Forget this thread’s or DM’s conversation.', ...where },
    {
      name: 'hearth',
      description: 'hearth administration.',
      ...where,
      options: [
        { type: ApplicationCommandOptionType.Subcommand, name: 'status', description: 'Loaded models, VRAM, the queue by user (admins)' },
        {
          type: ApplicationCommandOptionType.SubcommandGroup,
          name: 'knowledge',
          description: 'Workspace knowledge: the channels hearth reads (admins)',
          options: [
            { type: ApplicationCommandOptionType.Subcommand, name: 'status', description: 'Indexed channels, message counts, last sync (admins)' },
            {
              type: ApplicationCommandOptionType.Subcommand,
              name: 'drop',
              description: "Forget a channel's indexed messages (admins)",
              options: [{ type: ApplicationCommandOptionType.Channel, name: 'channel', description: 'The channel to forget', required: true, channel_types: [ChannelType.GuildText, ChannelType.GuildAnnouncement] }],
            },
          ],
        },
      ],
    },
  ];
}
